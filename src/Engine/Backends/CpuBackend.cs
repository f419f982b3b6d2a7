using LearningCurves.Engine.Model;
using LearningCurves.Formats;

namespace LearningCurves.Engine.Backends;

/// <summary>
/// The CPU backend: host arrays, OpenBLAS sgemm for matrix products, <see cref="CpuOps"/> for the rest.
/// Precision: fp32 and tf32 are the same here (no TF32 on a CPU); bf16 keeps the matrix weights and every Bf16
/// activation as bfloat16 values (held in float32 arrays), each op rounding what it writes into a Bf16 buffer where the
/// GPU's kernel rounds, so `verify` compares like with like.
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

    public IDeviceBuffer Allocate(long length, DType type) => type == DType.I32
        ? new CpuBuffer(new int[CheckLength(length)])
        : new CpuBuffer(new float[CheckLength(length)], type);

    public IDeviceBuffer Upload(ReadOnlySpan<float> data) => new CpuBuffer(data.ToArray(), DType.F32);

    /// <summary>bf16 mode: a Bf16 buffer of the rounded values (as the GPU's bf16 weights); else F32.</summary>
    public IDeviceBuffer UploadWeight(ReadOnlySpan<float> data)
    {
        var copy = data.ToArray();
        if (Precision != Precision.Bf16) return new CpuBuffer(copy, DType.F32);
        CpuOps.RoundToBf16(copy);
        return new CpuBuffer(copy, DType.Bf16);
    }

    public void Write(IDeviceBuffer dst, ReadOnlySpan<int> data) => data.CopyTo(I(dst, "Write"));

    public void Write(IDeviceBuffer dst, ReadOnlySpan<float> data)
    {
        var f = FAny(dst, "Write", "destination");
        data.CopyTo(f);
        RoundIfBf16(dst, f.AsSpan(0, data.Length));
    }

    public void WriteStored(IDeviceBuffer dst, long offset, ReadOnlySpan<byte> src, StoredType type)
    {
        long n = DTypes.CheckStored(dst, offset, src, type);
        var f = FAny(dst, "WriteStored", "destination").AsSpan((int)offset, (int)n);
        DTypes.Widen(src, type, f);
        RoundIfBf16(dst, f);
    }

    public void Download(IDeviceBuffer src, Span<float> dst) => FAny(src, "Download", "source").AsSpan(0, dst.Length).CopyTo(dst);

    public void Synchronize()
    {
    }

    public void Embed(IDeviceBuffer output, IDeviceBuffer tokens, IDeviceBuffer wte, IDeviceBuffer wpe, int b, int t, int c) =>
        CpuOps.Embed(F(output, "Embed", "output"), I(tokens, "Embed"), F(wte, "Embed", "wte"), F(wpe, "Embed", "wpe"), b, t, c);

    public void LayerNorm(IDeviceBuffer output, IDeviceBuffer input, IDeviceBuffer weight, IDeviceBuffer bias, int rows, int c, float eps)
    {
        var o = FAny(output, "LayerNorm", "output");
        CpuOps.LayerNorm(o, F(input, "LayerNorm", "input"), F(weight, "LayerNorm", "weight"), F(bias, "LayerNorm", "bias"), rows, c, eps);
        RoundIfBf16(output, o.AsSpan(0, checked(rows * c)));
    }

    public void ResidualLayerNorm(IDeviceBuffer residual, IDeviceBuffer norm, IDeviceBuffer y, IDeviceBuffer bias,
        IDeviceBuffer weight, IDeviceBuffer lnBias, int rows, int c, float eps)
    {
        const string op = "ResidualLayerNorm";
        var x = F(residual, op, "residual");
        var o = FAny(norm, op, "norm");
        CpuOps.AddBias(x, F(y, op, "y"), F(bias, op, "bias"), rows, c);
        CpuOps.LayerNorm(o, x, F(weight, op, "weight"), F(lnBias, op, "lnBias"), rows, c, eps);
        RoundIfBf16(norm, o.AsSpan(0, checked(rows * c)));
    }

    public void MatMul(IDeviceBuffer output, IDeviceBuffer input, IDeviceBuffer weight, IDeviceBuffer? bias, int rows, int inDim, int outDim, MatMulEpilogue epilogue)
    {
        MatMulEpilogues.CheckBias(epilogue, bias);
        MatMulEpilogues.CheckTypes(Precision, epilogue, output, input, bias);
        DTypes.Check(weight, input.Type, "MatMul", "weight");
        var o = FAny(output, "MatMul", "output");
        int n = checked(rows * outDim);
        var x = FAny(input, "MatMul", "input");
        var b = bias is null ? default : FAny(bias, "MatMul", "bias");
        if (epilogue == MatMulEpilogue.BiasResidual)
        {
            // out += (input @ weight + bias), the product and its bias first (as the GPU's epilogue adds them).
            var product = new float[n];
            CpuOps.MatMul(product, x, FAny(weight, "MatMul", "weight"), b, rows, inDim, outDim);
            CpuOps.Add(o.AsSpan(0, n), product);
            return;
        }
        CpuOps.MatMul(o, x, FAny(weight, "MatMul", "weight"), b, rows, inDim, outDim);
        if (epilogue == MatMulEpilogue.BiasGelu) CpuOps.Gelu(o.AsSpan(0, n));
        RoundIfBf16(output, o.AsSpan(0, n));
    }

    public void Attention(IDeviceBuffer output, IDeviceBuffer qkv, int b, int t, int heads, int kvHeads, int headSize, float scale)
    {
        DTypes.CheckFloat(qkv, "Attention", "qkv");
        DTypes.Check(output, qkv.Type, "Attention", "output");
        var o = FAny(output, "Attention", "output");
        CpuOps.Attention(o, FAny(qkv, "Attention", "qkv"), b, t, heads, kvHeads, headSize, scale);
        RoundIfBf16(output, o.AsSpan(0, checked(b * t * heads * headSize)));
    }

    public void AttentionCached(IDeviceBuffer output, IDeviceBuffer qkv, IDeviceBuffer kCache, IDeviceBuffer vCache,
        int b, int tNew, int past, int maxT, int heads, int kvHeads, int headSize, float scale)
    {
        // The caches take exact copies of qkv's keys and values, so they need no rounding of their own.
        DTypes.CheckFloat(qkv, "AttentionCached", "qkv");
        foreach (var (buf, what) in new[] { (output, "output"), (kCache, "kCache"), (vCache, "vCache") })
            DTypes.Check(buf, qkv.Type, "AttentionCached", what);
        var o = FAny(output, "AttentionCached", "output");
        CpuOps.AttentionCached(o, FAny(qkv, "AttentionCached", "qkv"), FAny(kCache, "AttentionCached", "kCache"),
            FAny(vCache, "AttentionCached", "vCache"), b, tNew, past, maxT, heads, kvHeads, headSize, scale);
        RoundIfBf16(output, o.AsSpan(0, checked(b * tNew * heads * headSize)));
    }

    public void RmsNorm(IDeviceBuffer output, IDeviceBuffer input, IDeviceBuffer weight, int rows, int c, float eps)
    {
        var o = FAny(output, "RmsNorm", "output");
        CpuOps.RmsNorm(o, F(input, "RmsNorm", "input"), F(weight, "RmsNorm", "weight"), rows, c, eps);
        RoundIfBf16(output, o.AsSpan(0, checked(rows * c)));
    }

    public void ResidualRmsNorm(IDeviceBuffer residual, IDeviceBuffer norm, IDeviceBuffer y, IDeviceBuffer? bias, IDeviceBuffer weight,
        int rows, int c, float eps)
    {
        const string op = "ResidualRmsNorm";
        var x = F(residual, op, "residual");
        var o = FAny(norm, op, "norm");
        if (bias is null) CpuOps.Add(x.AsSpan(0, checked(rows * c)), F(y, op, "y"));
        else CpuOps.AddBias(x, F(y, op, "y"), F(bias, op, "bias"), rows, c);
        CpuOps.RmsNorm(o, x, F(weight, op, "weight"), rows, c, eps);
        RoundIfBf16(norm, o.AsSpan(0, checked(rows * c)));
    }

    public void SwiGlu(IDeviceBuffer output, IDeviceBuffer gate, IDeviceBuffer up, int rows, int inner)
    {
        DTypes.CheckFloat(output, "SwiGlu", "output");
        DTypes.Check(gate, output.Type, "SwiGlu", "gate");
        DTypes.Check(up, output.Type, "SwiGlu", "up");
        var o = FAny(output, "SwiGlu", "output");
        CpuOps.SwiGlu(o, FAny(gate, "SwiGlu", "gate"), FAny(up, "SwiGlu", "up"), rows, inner, inner);
        RoundIfBf16(output, o.AsSpan(0, checked(rows * inner)));
    }

    public void SwiGluFused(IDeviceBuffer output, IDeviceBuffer gateUp, int rows, int inner)
    {
        DTypes.CheckFloat(output, "SwiGluFused", "output");
        DTypes.Check(gateUp, output.Type, "SwiGluFused", "gateUp");
        var o = FAny(output, "SwiGluFused", "output");
        var g = FAny(gateUp, "SwiGluFused", "gateUp");
        CpuOps.SwiGlu(o, g, g.AsSpan(Math.Min(inner, g.Length)), rows, inner, 2 * inner);
        RoundIfBf16(output, o.AsSpan(0, checked(rows * inner)));
    }

    public void QkNorm(IDeviceBuffer qkv, IDeviceBuffer qWeight, IDeviceBuffer kWeight, int rows, int heads, int kvHeads, int headSize, float eps)
    {
        var f = FAny(qkv, "QkNorm", "qkv");
        CpuOps.QkNorm(f, F(qWeight, "QkNorm", "qWeight"), F(kWeight, "QkNorm", "kWeight"), rows, heads, kvHeads, headSize, eps);
        RoundIfBf16(qkv, f.AsSpan(0, checked(rows * (heads + 2 * kvHeads) * headSize)));
    }

    public void Clamp(IDeviceBuffer x, long n, float limit)
    {
        var f = FAny(x, "Clamp", "x").AsSpan(0, checked((int)n));
        CpuOps.Clamp(f, limit);
        RoundIfBf16(x, f);
    }

    public void GeluErf(IDeviceBuffer x, long n)
    {
        var f = FAny(x, "GeluErf", "x").AsSpan(0, checked((int)n));
        CpuOps.GeluErf(f);
        RoundIfBf16(x, f);
    }

    public void Rotary(IDeviceBuffer qkv, int b, int t, int heads, int kvHeads, int headSize, int rotaryDims, RotaryFrequencies rotary, int past)
    {
        var f = FAny(qkv, "Rotary", "qkv");
        CpuOps.Rotary(f, b, t, heads, kvHeads, headSize, rotaryDims, rotary, past);
        RoundIfBf16(qkv, f.AsSpan(0, checked(b * t * (heads + 2 * kvHeads) * headSize)));
    }

    public void Add(IDeviceBuffer x, IDeviceBuffer y, long n) => CpuOps.Add(F(x, "Add", "x").AsSpan(0, checked((int)n)), F(y, "Add", "y"));

    public void AddBias(IDeviceBuffer x, IDeviceBuffer y, IDeviceBuffer bias, int rows, int cols) =>
        CpuOps.AddBias(F(x, "AddBias", "x"), F(y, "AddBias", "y"), F(bias, "AddBias", "bias"), rows, cols);

    public void GatherRows(IDeviceBuffer output, IDeviceBuffer input, IDeviceBuffer rows, int count, int c)
    {
        DTypes.CheckFloat(input, "GatherRows", "input");
        DTypes.Check(output, input.Type, "GatherRows", "output");
        CpuOps.GatherRows(FAny(output, "GatherRows", "output"), FAny(input, "GatherRows", "input"), I(rows, "GatherRows"), count, c);
    }

    public void Surprisal(IDeviceBuffer output, IDeviceBuffer hidden, IDeviceBuffer head, IDeviceBuffer targets, int m, int c, int v, int headRows)
    {
        CheckHead(hidden, head, c, v, headRows, "Surprisal");
        CpuOps.Surprisal(F(output, "Surprisal", "output"), FAny(hidden, "Surprisal", "hidden"), FAny(head, "Surprisal", "head"), I(targets, "Surprisal"), m, c, v);
    }

    public void Logits(IDeviceBuffer output, IDeviceBuffer hidden, IDeviceBuffer head, int m, int c, int v)
    {
        CheckHead(hidden, head, c, v, v, "Logits");
        CpuOps.Logits(F(output, "Logits", "output"), FAny(hidden, "Logits", "hidden"), FAny(head, "Logits", "head"), m, c, v);
    }

    private void CheckHead(IDeviceBuffer hidden, IDeviceBuffer head, int c, int v, int headRows, string op)
    {
        DTypes.Check(hidden, DTypes.GemmInput(Precision), op, "hidden");
        DTypes.Check(head, hidden.Type, op, "head");
        if (headRows < v) throw new ArgumentException($"{op}: the head has {headRows} rows, fewer than the vocabulary ({v})");
        if (head.Length < (long)headRows * c) throw new ArgumentException($"{op}: head holds {head.Length} values, ({headRows}, {c}) needs {(long)headRows * c}");
    }

    public void Dispose()
    {
    }

    private static int CheckLength(long length) =>
        length >= 0 && length <= Array.MaxLength ? (int)length : throw new ArgumentOutOfRangeException(nameof(length), $"{length} elements is more than one host array holds");

    private static CpuBuffer Own(IDeviceBuffer b) => b as CpuBuffer ?? throw new ArgumentException("the buffer was not made by the CPU backend");

    /// <summary>The floats of an F32 buffer (type checked).</summary>
    private static float[] F(IDeviceBuffer b, string op, string what)
    {
        DTypes.Check(b, DType.F32, op, what);
        return Own(b).Floats!;
    }

    /// <summary>The floats of an F32 or Bf16 buffer (the caller checks which it needs).</summary>
    private static float[] FAny(IDeviceBuffer b, string op, string what)
    {
        DTypes.CheckFloat(b, op, what);
        return Own(b).Floats!;
    }

    private static int[] I(IDeviceBuffer b, string op)
    {
        DTypes.Check(b, DType.I32, op, "index buffer");
        return Own(b).Ints!;
    }

    /// <summary>A Bf16 buffer stores bf16 values: what an op wrote into it is rounded exactly where the GPU rounds
    /// (its kernels round the fp32 result once, when they store it).</summary>
    private static void RoundIfBf16(IDeviceBuffer b, Span<float> written)
    {
        if (b.Type == DType.Bf16) CpuOps.RoundToBf16(written);
    }

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
        public CpuBuffer(float[] f, DType type)
        {
            Floats = f;
            Type = type;
        }

        public CpuBuffer(int[] i)
        {
            Ints = i;
            Type = DType.I32;
        }

        public DType Type { get; }

        public float[]? Floats { get; }

        public int[]? Ints { get; }

        public long Length => Floats?.Length ?? Ints!.Length;

        public void Dispose()
        {
        }
    }
}
