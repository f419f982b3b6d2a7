namespace LearningCurves.Engine.Backends;

/// <summary>
/// The CPU backend: host arrays, OpenBLAS sgemm for matrix products, <see cref="CpuOps"/> for the rest.
/// Precision: fp32 and tf32 are the same here (no TF32 on a CPU); bf16 rounds the matrix weights to bfloat16 values
/// (kept in float32), a model of the GPU's bf16 weights for comparisons.
/// </summary>
public sealed class CpuBackend : IBackend
{
    public CpuBackend(Precision precision = Precision.Fp32)
    {
        Precision = precision;
        if (!Blas.IsAvailable)
        {
            throw new UserError(
                $"the CPU backend needs OpenBLAS (Debian: libopenblas0-pthread; run 'dotnet pwsh ./build.ps1 setup'); tried: {Blas.LibraryName}");
        }
    }

    public string Name => "cpu";

    public string DeviceName => $"{CpuModel()} ({Environment.ProcessorCount} threads), {Blas.Describe()}";

    public Precision Precision { get; }

    public long? FreeMemoryBytes => null;

    public IDeviceBuffer Allocate(long length) => new CpuBuffer(new float[CheckLength(length)]);

    public IDeviceBuffer AllocateInts(long length) => new CpuBuffer(new int[CheckLength(length)]);

    public IDeviceBuffer Upload(ReadOnlySpan<float> data) => new CpuBuffer(data.ToArray());

    public IDeviceBuffer UploadWeight(ReadOnlySpan<float> data)
    {
        var copy = data.ToArray();
        if (Precision == Precision.Bf16) CpuOps.RoundToBf16(copy);
        return new CpuBuffer(copy);
    }

    public void Write(IDeviceBuffer dst, ReadOnlySpan<int> data) => data.CopyTo(I(dst));

    public void Write(IDeviceBuffer dst, ReadOnlySpan<float> data) => data.CopyTo(F(dst));

    public void Download(IDeviceBuffer src, Span<float> dst) => F(src).AsSpan(0, dst.Length).CopyTo(dst);

    public void Synchronize()
    {
    }

    public void Embed(IDeviceBuffer output, IDeviceBuffer tokens, IDeviceBuffer wte, IDeviceBuffer wpe, int b, int t, int c) =>
        CpuOps.Embed(F(output), I(tokens), F(wte), F(wpe), b, t, c);

    public void LayerNorm(IDeviceBuffer output, IDeviceBuffer input, IDeviceBuffer weight, IDeviceBuffer bias, int rows, int c, float eps) =>
        CpuOps.LayerNorm(F(output), F(input), F(weight), F(bias), rows, c, eps);

    public void MatMul(IDeviceBuffer output, IDeviceBuffer input, IDeviceBuffer weight, IDeviceBuffer? bias, int rows, int inDim, int outDim, MatMulEpilogue epilogue)
    {
        MatMulEpilogues.CheckBias(epilogue, bias);
        CpuOps.MatMul(F(output), F(input), F(weight), bias is null ? default : F(bias), rows, inDim, outDim);
        if (epilogue == MatMulEpilogue.BiasGelu) CpuOps.Gelu(F(output).AsSpan(0, checked(rows * outDim)));
    }

    public void Attention(IDeviceBuffer output, IDeviceBuffer qkv, int b, int t, int c, int heads, float scale) =>
        CpuOps.Attention(F(output), F(qkv), b, t, c, heads, scale);

    public void AttentionCached(IDeviceBuffer output, IDeviceBuffer qkv, IDeviceBuffer kCache, IDeviceBuffer vCache,
        int b, int tNew, int past, int maxT, int c, int heads, float scale) =>
        CpuOps.AttentionCached(F(output), F(qkv), F(kCache), F(vCache), b, tNew, past, maxT, c, heads, scale);

    public void GeluErf(IDeviceBuffer x, long n) => CpuOps.GeluErf(F(x).AsSpan(0, checked((int)n)));

    public void Rotary(IDeviceBuffer qkv, int b, int t, int c, int heads, int rotaryDims, double rotaryBase, int past) =>
        CpuOps.Rotary(F(qkv), b, t, c, heads, rotaryDims, rotaryBase, past);

    public void Add(IDeviceBuffer x, IDeviceBuffer y, long n) => CpuOps.Add(F(x).AsSpan(0, checked((int)n)), F(y));

    public void AddBias(IDeviceBuffer x, IDeviceBuffer y, IDeviceBuffer bias, int rows, int cols) =>
        CpuOps.AddBias(F(x), F(y), F(bias), rows, cols);

    public void GatherRows(IDeviceBuffer output, IDeviceBuffer input, IDeviceBuffer rows, int count, int c) =>
        CpuOps.GatherRows(F(output), F(input), I(rows), count, c);

    public void Surprisal(IDeviceBuffer output, IDeviceBuffer hidden, IDeviceBuffer head, IDeviceBuffer targets, int m, int c, int v) =>
        CpuOps.Surprisal(F(output), F(hidden), F(head), I(targets), m, c, v);

    public void Logits(IDeviceBuffer output, IDeviceBuffer hidden, IDeviceBuffer head, int m, int c, int v) =>
        CpuOps.Logits(F(output), F(hidden), F(head), m, c, v);

    public void Dispose()
    {
    }

    private static int CheckLength(long length) =>
        length >= 0 && length <= Array.MaxLength ? (int)length : throw new ArgumentOutOfRangeException(nameof(length), $"{length} elements is more than one host array holds");

    private static float[] F(IDeviceBuffer b) => ((CpuBuffer)b).Floats ?? throw new ArgumentException("expected a float buffer");

    private static int[] I(IDeviceBuffer b) => ((CpuBuffer)b).Ints ?? throw new ArgumentException("expected an int buffer");

    private static string CpuModel()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            if (line is not null) return line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        return System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString();
    }

    private sealed class CpuBuffer : IDeviceBuffer
    {
        public CpuBuffer(float[] f) => Floats = f;

        public CpuBuffer(int[] i) => Ints = i;

        public float[]? Floats { get; }

        public int[]? Ints { get; }

        public long Length => Floats?.Length ?? Ints!.Length;

        public void Dispose()
        {
        }
    }
}
