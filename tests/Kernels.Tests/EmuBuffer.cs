using System.Runtime.InteropServices;
using LearningCurves.Engine.Backends;

namespace LearningCurves.Kernels.Tests;

/// <summary>
/// "Device" memory for the emulated kernels: native memory of 4-byte elements (float, int, or two bf16/f16 halves),
/// zeroed, with guard zones before and after filled with a canary pattern. <see cref="CheckGuards"/> finds a kernel
/// that wrote outside its buffer, which plain host memory would hide.
/// </summary>
internal sealed unsafe class EmuBuffer : IDeviceBuffer
{
    private const int GuardElements = 64;
    private const uint Canary = 0x7fa5a5a5; // a NaN pattern: reading a guard also shows up in results
    private byte* _block;

    public EmuBuffer(long length, bool ints = false)
        : this(length, ints ? DType.I32 : DType.F32)
    {
    }

    /// <summary>A buffer of <paramref name="length"/> 4-byte elements; a Bf16 buffer holds bf16 values as floats (the
    /// emulated backend's model of the GPU's bf16 activations, as the CPU backend's).</summary>
    public EmuBuffer(long length, DType type)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Length = length;
        Type = type;
        IsInts = type == DType.I32;
        long total = (length + 2 * GuardElements) * 4;
        _block = (byte*)NativeMemory.AlignedAlloc((nuint)total, 64);
        NativeMemory.Clear(_block + GuardElements * 4, (nuint)(length * 4));
        new Span<uint>(_block, GuardElements).Fill(Canary);
        new Span<uint>(_block + (GuardElements + length) * 4, GuardElements).Fill(Canary);
    }

    public static EmuBuffer From(ReadOnlySpan<float> data)
    {
        var b = new EmuBuffer(data.Length);
        data.CopyTo(b.Floats);
        return b;
    }

    public static EmuBuffer From(ReadOnlySpan<int> data)
    {
        var b = new EmuBuffer(data.Length, ints: true);
        data.CopyTo(b.Ints);
        return b;
    }

    /// <summary>Halves (bf16/f16 bit patterns), packed two per element.</summary>
    public static EmuBuffer From(ReadOnlySpan<ushort> data)
    {
        var b = new EmuBuffer((data.Length + 1) / 2, ints: true);
        data.CopyTo(b.Halves);
        return b;
    }

    public long Length { get; }

    public DType Type { get; }

    public bool IsInts { get; }

    /// <summary>The address the kernels get.</summary>
    public nint Ptr => _block is null ? throw new ObjectDisposedException(nameof(EmuBuffer)) : (nint)(_block + GuardElements * 4);

    public Span<float> Floats => new((void*)Ptr, checked((int)Length));

    public Span<int> Ints => new((void*)Ptr, checked((int)Length));

    public Span<ushort> Halves => new((void*)Ptr, checked((int)(Length * 2)));

    public float[] ToArray() => Floats.ToArray();

    /// <summary>Throws naming <paramref name="kernel"/> when a guard zone was overwritten.</summary>
    public void CheckGuards(string kernel)
    {
        if (_block is null) return;
        var before = new ReadOnlySpan<uint>(_block, GuardElements);
        var after = new ReadOnlySpan<uint>(_block + (GuardElements + Length) * 4, GuardElements);
        int b = before.IndexOfAnyExcept(Canary), a = after.IndexOfAnyExcept(Canary);
        if (b >= 0) throw new InvalidOperationException($"{kernel} wrote {GuardElements - b} elements before the start of a buffer of {Length}");
        if (a >= 0) throw new InvalidOperationException($"{kernel} wrote at element {Length + a} of a buffer of {Length}");
    }

    public void Dispose()
    {
        if (_block is null) return;
        NativeMemory.AlignedFree(_block);
        _block = null;
    }
}
