using LearningCurves.Engine.Backends;

namespace LearningCurves.Kernels.Tests;

/// <summary>
/// An <see cref="IBackend"/> whose every op launches kernels of kernels.cu under the CPU emulator, with the launch
/// configurations of the file's header: the forward pass (Engine.Model.Gpt2Model) runs on the real kernels without a
/// GPU. Matrix products use sgemm_tiled where the CUDA backend uses cuBLAS. Precision: fp32/tf32 compute in fp32;
/// bf16 rounds matrix weights, and whatever an op writes into a Bf16 buffer, to bf16 through convert_f32_to_bf16 /
/// convert_bf16_to_f32 (values kept as floats: the CPU backend's bf16 model).
/// </summary>
internal sealed class EmuBackend : IBackend
{
    private readonly bool _fusedAttention;
    private readonly int _headChunk;

    /// <param name="fusedAttention">attention_fused, or the split / sgemm / softmax_causal / sgemm / merge path.</param>
    /// <param name="headChunk">vocabulary columns per logits chunk in <see cref="Surprisal"/>.</param>
    public EmuBackend(Precision precision = Precision.Fp32, bool fusedAttention = true, int headChunk = 256)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(headChunk, 1);
        EmuLibrary.Require();
        Precision = precision;
        _fusedAttention = fusedAttention;
        _headChunk = headChunk;
    }

    public string Name => "emu";

    public string DeviceName => "CUDA execution model emulated on the CPU (tests/kernel-emu)";

    public Precision Precision { get; }

    public long? FreeMemoryBytes => null;

    public IDeviceBuffer Allocate(long length, DType type) => new EmuBuffer(length, type);

    public IDeviceBuffer Upload(ReadOnlySpan<float> data) => EmuBuffer.From(data);

    public IDeviceBuffer UploadWeight(ReadOnlySpan<float> data)
    {
        if (Precision != Precision.Bf16) return EmuBuffer.From(data);
        var w = new EmuBuffer(data.Length, DType.Bf16);
        data.CopyTo(w.Floats);
        Round(w, data.Length);
        return w;
    }

    /// <summary>Rounds the first n values of a Bf16 buffer to bf16 with the conversion kernels (nothing for F32).</summary>
    private static void Round(EmuBuffer b, long n)
    {
        if (b.Type != DType.Bf16 || n == 0) return;
        using var half = new EmuBuffer((n + 1) / 2, ints: true); // bf16, two per element
        EmuKernels.F32ToBf16(half, b, n);
        EmuKernels.Bf16ToF32(b, half, n);
    }

    public void Write(IDeviceBuffer dst, ReadOnlySpan<int> data) => data.CopyTo(B(dst).Ints);

    public void Write(IDeviceBuffer dst, ReadOnlySpan<float> data)
    {
        data.CopyTo(B(dst).Floats);
        Round(B(dst), data.Length);
    }

    public void Download(IDeviceBuffer src, Span<float> dst) => B(src).Floats[..dst.Length].CopyTo(dst);

    public void Synchronize()
    {
    }

    public void Embed(IDeviceBuffer output, IDeviceBuffer tokens, IDeviceBuffer wte, IDeviceBuffer wpe, int b, int t, int c) =>
        EmuKernels.Embed(B(output), B(tokens), B(wte), B(wpe), b, t, c);

    public void LayerNorm(IDeviceBuffer output, IDeviceBuffer input, IDeviceBuffer weight, IDeviceBuffer bias, int rows, int c, float eps)
    {
        EmuKernels.LayerNorm(B(output), B(input), B(weight), B(bias), rows, c, eps);
        Round(B(output), (long)rows * c);
    }

    public void ResidualLayerNorm(IDeviceBuffer residual, IDeviceBuffer norm, IDeviceBuffer y, IDeviceBuffer bias,
        IDeviceBuffer weight, IDeviceBuffer lnBias, int rows, int c, float eps)
    {
        EmuKernels.ResidualBiasAdd(B(residual), B(y), B(bias), rows, c);
        LayerNorm(norm, residual, weight, lnBias, rows, c, eps);
    }

    public void MatMul(IDeviceBuffer output, IDeviceBuffer input, IDeviceBuffer weight, IDeviceBuffer? bias, int rows, int inDim, int outDim, MatMulEpilogue epilogue)
    {
        MatMulEpilogues.CheckBias(epilogue, bias);
        long n = (long)rows * outDim;
        if (epilogue == MatMulEpilogue.BiasResidual)
        {
            // out += (input @ weight + bias): the product with its bias into scratch, then the residual add.
            using var product = new EmuBuffer(n);
            EmuKernels.Sgemm(product, B(input), B(weight), B(bias!), rows, outDim, inDim, inDim, outDim, outDim, transB: false);
            EmuKernels.ResidualAdd(B(output), product, n);
            return;
        }
        // sgemm_tiled adds a bias itself; bias + GELU is bias_gelu_forward over the plain product.
        EmuKernels.Sgemm(B(output), B(input), B(weight), epilogue == MatMulEpilogue.Bias ? B(bias!) : null, rows, outDim, inDim, inDim, outDim, outDim, transB: false);
        if (epilogue == MatMulEpilogue.BiasGelu) EmuKernels.BiasGelu(B(output), B(bias!), rows, outDim);
        Round(B(output), n);
    }

    public void Attention(IDeviceBuffer output, IDeviceBuffer qkv, int b, int t, int c, int heads, float scale)
    {
        int hs = c / heads;
        if (_fusedAttention && hs <= EmuKernels.AttentionMaxHeadSize)
        {
            EmuKernels.AttentionFused(B(output), B(qkv), b, t, heads, hs, scale);
            Round(B(output), (long)b * t * c);
            return;
        }
        int bh = b * heads;
        long n = (long)b * t * c, headStride = (long)t * hs;
        using var q = new EmuBuffer(n);                  // (B, NH, T, HS)
        using var k = new EmuBuffer(n);                  // (B, NH, T, HS)
        using var v = new EmuBuffer(n);                  // (B, NH, T, HS)
        using var att = new EmuBuffer((long)bh * t * t); // (B, NH, T, T)
        using var y = new EmuBuffer(n);                  // (B, NH, T, HS)
        EmuKernels.QkvSplitHeads(q, k, v, B(qkv), b, t, heads, hs);
        EmuKernels.Sgemm(att, q, k, null, t, t, hs, hs, hs, t, transB: true, bh, headStride, headStride, (long)t * t);
        EmuKernels.SoftmaxCausal(att, bh, t, t, 0, scale);
        EmuKernels.Sgemm(y, att, v, null, t, hs, t, t, hs, hs, transB: false, bh, (long)t * t, headStride, headStride);
        EmuKernels.MergeHeads(B(output), y, b, t, heads, hs);
        Round(B(output), n);
    }

    public void AttentionCached(IDeviceBuffer output, IDeviceBuffer qkv, IDeviceBuffer kCache, IDeviceBuffer vCache,
        int b, int tNew, int past, int maxT, int c, int heads, float scale)
    {
        int hs = c / heads;
        if (hs > EmuKernels.AttentionMaxHeadSize)
            throw new NotSupportedException($"attention_cached handles head sizes up to {EmuKernels.AttentionMaxHeadSize}, not {hs}");
        if (past < 0 || past + tNew > maxT)
            throw new ArgumentOutOfRangeException(nameof(past), $"positions {past}..{past + tNew - 1} outside the cache (0..{maxT - 1})");
        EmuKernels.KvCacheWrite(B(kCache), B(vCache), B(qkv), b, tNew, past, maxT, c);
        EmuKernels.AttentionCached(B(output), B(qkv), B(kCache), B(vCache), b, tNew, past, maxT, heads, hs, scale);
        Round(B(output), (long)b * tNew * c);
    }

    public void Add(IDeviceBuffer x, IDeviceBuffer y, long n) => EmuKernels.ResidualAdd(B(x), B(y), n);

    public void AddBias(IDeviceBuffer x, IDeviceBuffer y, IDeviceBuffer bias, int rows, int cols) =>
        EmuKernels.ResidualBiasAdd(B(x), B(y), B(bias), rows, cols);

    public void GatherRows(IDeviceBuffer output, IDeviceBuffer input, IDeviceBuffer rows, int count, int c) =>
        EmuKernels.GatherRows(B(output), B(input), B(rows), count, c);

    public void Surprisal(IDeviceBuffer output, IDeviceBuffer hidden, IDeviceBuffer head, IDeviceBuffer targets, int m, int c, int v, int headRows)
    {
        int chunk = Math.Min(_headChunk, v);
        using var logits = new EmuBuffer((long)m * chunk); // (M, chunk): one vocabulary chunk at a time
        using var state = new EmuBuffer(3L * m);            // (3, M) running max | sum | target logit
        for (int v0 = 0; v0 < v; v0 += chunk)
        {
            int vc = Math.Min(chunk, v - v0);
            EmuKernels.Sgemm(logits, B(hidden), B(head), null, m, vc, c, c, c, chunk, transB: true, offsetB: (long)v0 * c);
            EmuKernels.SurprisalChunk(state, logits, B(targets), m, vc, chunk, v0);
        }
        EmuKernels.SurprisalFinish(B(output), state, m);
    }

    public void Logits(IDeviceBuffer output, IDeviceBuffer hidden, IDeviceBuffer head, int m, int c, int v) =>
        EmuKernels.Sgemm(B(output), B(hidden), B(head), null, m, v, c, c, c, v, transB: true);

    public void Dispose()
    {
    }

    private static EmuBuffer B(IDeviceBuffer b) => b as EmuBuffer ?? throw new ArgumentException("not a buffer of the emulated backend");
}
