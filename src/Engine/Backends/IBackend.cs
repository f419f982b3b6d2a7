using LearningCurves.Engine.Model;

namespace LearningCurves.Engine.Backends;

/// <summary>How the matrix products run. fp32 is the parity mode: no reduced precision anywhere.</summary>
public enum Precision
{
    /// <summary>Float32 storage and arithmetic everywhere (no TF32).</summary>
    Fp32,
    /// <summary>Float32 storage; matrix products may use TF32 tensor cores.</summary>
    Tf32,
    /// <summary>Weights and GEMM inputs in bf16, fp32 accumulation; layer norm and softmax in fp32.</summary>
    Bf16,
}

/// <summary>Element type of a backend buffer. Every op checks the types of the buffers it is given.</summary>
public enum DType
{
    /// <summary>float32.</summary>
    F32,
    /// <summary>bfloat16 (round to nearest even from float32). On the CPU, float32 values that are exactly
    /// bf16-representable; on the GPU, 16-bit patterns.</summary>
    Bf16,
    /// <summary>int32 (token ids, row indices).</summary>
    I32,
}

/// <summary>The element types a checkpoint stores weights in, as host bytes for <see cref="IBackend.WriteStored"/>
/// (little-endian).</summary>
public enum StoredType
{
    F32,
    F16,
    Bf16,
}

/// <summary>Sizes and checks of <see cref="DType"/>.</summary>
public static class DTypes
{
    /// <summary>Bytes of one element on the device.</summary>
    public static int Size(this DType t) => t == DType.Bf16 ? 2 : 4;

    /// <summary>Bytes of one stored element.</summary>
    public static int Size(this StoredType t) => t == StoredType.F32 ? 4 : 2;

    /// <summary>Elements in <paramref name="src"/> of <paramref name="t"/>; an ArgumentException when the byte count
    /// is not a whole number of them.</summary>
    public static long StoredCount(ReadOnlySpan<byte> src, StoredType t)
    {
        if (src.Length % t.Size() != 0) throw new ArgumentException($"{src.Length} bytes are not a whole number of {t} values");
        return src.Length / t.Size();
    }

    /// <summary>Stored values widened to float32 (exact for every stored type).</summary>
    public static void Widen(ReadOnlySpan<byte> src, StoredType t, Span<float> dst)
    {
        switch (t)
        {
            case StoredType.F32:
                src.CopyTo(System.Runtime.InteropServices.MemoryMarshal.AsBytes(dst));
                break;
            case StoredType.F16:
                Checkpoints.SafeTensorsFile.WidenF16(src, dst);
                break;
            case StoredType.Bf16:
                Checkpoints.SafeTensorsFile.WidenBf16(src, dst);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(t), t, null);
        }
    }

    /// <summary>Checks a <see cref="IBackend.WriteStored"/> call against <paramref name="b"/>: a float buffer, the
    /// range [offset, offset + n) inside it. Returns n.</summary>
    public static long CheckStored(IDeviceBuffer b, long offset, ReadOnlySpan<byte> src, StoredType t)
    {
        CheckFloat(b, "WriteStored", "destination");
        long n = StoredCount(src, t);
        if (offset < 0 || offset + n > b.Length)
            throw new ArgumentException($"WriteStored: elements [{offset}, {offset + n}) are outside a buffer of {b.Length}");
        return n;
    }

    /// <summary>Throws one ArgumentException naming the expected and actual type unless <paramref name="b"/> is
    /// <paramref name="expected"/>.</summary>
    public static void Check(IDeviceBuffer b, DType expected, string op, string what)
    {
        ArgumentNullException.ThrowIfNull(b);
        if (b.Type != expected) throw new ArgumentException($"{op}: {what} must be {expected}, got {b.Type}");
    }

    /// <summary>Throws unless <paramref name="b"/> is F32 or Bf16 (an activation that may be either).</summary>
    public static void CheckFloat(IDeviceBuffer b, string op, string what)
    {
        ArgumentNullException.ThrowIfNull(b);
        if (b.Type == DType.I32) throw new ArgumentException($"{op}: {what} must be F32 or Bf16, got {b.Type}");
    }

    /// <summary>The type of the activations that feed a matrix product in <paramref name="p"/>: bf16 in bf16 mode,
    /// else fp32. The residual stream is fp32 in every mode.</summary>
    public static DType GemmInput(Precision p) => p == Precision.Bf16 ? DType.Bf16 : DType.F32;
}

/// <summary>What <see cref="IBackend.MatMul"/> does to the product before storing it: the fusions the forward pass
/// names, as llm.c names them (no hidden state: each op says what it fuses).</summary>
public enum MatMulEpilogue
{
    /// <summary>out = input @ weight (the bias, if any, is added later, e.g. by <see cref="IBackend.AddBias"/>).</summary>
    None,
    /// <summary>out = input @ weight + bias.</summary>
    Bias,
    /// <summary>out = gelu(input @ weight + bias), tanh form (the MLP's first product).</summary>
    BiasGelu,
    /// <summary>out += input @ weight + bias: the residual add of a projection as part of the product (out fp32).</summary>
    BiasResidual,
}

/// <summary>A buffer owned by a backend (host memory for the CPU, device memory for CUDA), of one element type.</summary>
public interface IDeviceBuffer : IDisposable
{
    /// <summary>Number of elements.</summary>
    long Length { get; }

    /// <summary>Element type.</summary>
    DType Type { get; }
}

/// <summary>
/// The small set of operations the GPT-2 forward pass needs. The model code (<see cref="Model.DecoderModel"/>) is
/// written once against this; the CPU and CUDA backends implement it. Shapes are row-major; comments give them.
/// All ops may run asynchronously; <see cref="Download"/> and <see cref="Synchronize"/> wait.
/// </summary>
public interface IBackend : IDisposable
{
    /// <summary>"cpu" or "cuda".</summary>
    string Name { get; }

    /// <summary>The device in words (CPU model and threads, or GPU name), for reports.</summary>
    string DeviceName { get; }

    Precision Precision { get; }

    /// <summary>Free memory for activations in bytes, when the backend knows (the GPU); null otherwise.</summary>
    long? FreeMemoryBytes { get; }

    /// <summary>A zeroed buffer of <paramref name="length"/> elements of <paramref name="type"/>.</summary>
    IDeviceBuffer Allocate(long length, DType type);

    /// <summary>A float buffer holding <paramref name="data"/> in full precision (biases, layer norm, embeddings).</summary>
    IDeviceBuffer Upload(ReadOnlySpan<float> data);

    /// <summary>A matrix weight used only as the right operand of <see cref="MatMul"/> or as the head in
    /// <see cref="Surprisal"/>/<see cref="Logits"/>; the backend may store it in reduced precision (bf16 mode).</summary>
    IDeviceBuffer UploadWeight(ReadOnlySpan<float> data);

    /// <summary>Copies ints into an I32 buffer (the first data.Length elements).</summary>
    void Write(IDeviceBuffer dst, ReadOnlySpan<int> data);

    /// <summary>Copies floats into an F32 buffer, or into a Bf16 buffer rounded to nearest even (the first data.Length
    /// elements).</summary>
    void Write(IDeviceBuffer dst, ReadOnlySpan<float> data);

    /// <summary>Writes stored weight values straight from their bytes (a memory-mapped checkpoint) into elements
    /// [offset, offset + n) of an F32 or Bf16 buffer, n = src.Length / the stored type's size, converted to the buffer's
    /// type: bf16 bits into a Bf16 buffer unchanged (no widening), F32 and F16 rounded to bf16 to nearest even (F16
    /// through its exact float: the same bits as widening and <see cref="Write(IDeviceBuffer, ReadOnlySpan{float})"/>);
    /// into an F32 buffer F16 and BF16 widen exactly. Nothing outside the range changes; the host memory used is the
    /// backend's own bounded staging.</summary>
    void WriteStored(IDeviceBuffer dst, long offset, ReadOnlySpan<byte> src, StoredType type);

    /// <summary>Copies the first dst.Length values of an F32 or Bf16 buffer to the host (bf16 widened exactly), waiting
    /// for pending work.</summary>
    void Download(IDeviceBuffer src, Span<float> dst);

    /// <summary>Waits until all queued work is done.</summary>
    void Synchronize();

    /// <summary>out (B, T, C) = wte[tokens[b, t]] + wpe[t]. tokens (B, T) int.</summary>
    void Embed(IDeviceBuffer output, IDeviceBuffer tokens, IDeviceBuffer wte, IDeviceBuffer wpe, int b, int t, int c);

    /// <summary>out (rows, C) = (x - mean) / sqrt(var + eps) * w + bias, per row; population variance. input F32;
    /// output F32 or Bf16 (rounded once, from the fp32 result).</summary>
    void LayerNorm(IDeviceBuffer output, IDeviceBuffer input, IDeviceBuffer weight, IDeviceBuffer bias, int rows, int c, float eps);

    /// <summary>out (rows, outDim) = epilogue(input (rows, inDim) @ weight (inDim, outDim)), Conv1D layout, with bias
    /// (outDim) for every epilogue but <see cref="MatMulEpilogue.None"/> (gelu in its tanh form:
    /// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))). <paramref name="bias"/> is null exactly for
    /// <see cref="MatMulEpilogue.None"/>. Types: input is <see cref="DTypes.GemmInput"/> of the precision (Bf16 in bf16
    /// mode, else F32); output F32, or Bf16 in bf16 mode (None, Bias, BiasGelu; rounded once after the epilogue); F32 for
    /// BiasResidual.</summary>
    void MatMul(IDeviceBuffer output, IDeviceBuffer input, IDeviceBuffer weight, IDeviceBuffer? bias, int rows, int inDim, int outDim, MatMulEpilogue epilogue);

    /// <summary>Causal multi-head self-attention. qkv (B, T, 3C) holds q | k | v, each (NH, HS) per token;
    /// out (B, T, C) of the same type as qkv (F32, or Bf16 in bf16 mode; arithmetic in fp32). Scores are q.k * <paramref name="scale"/>, masked to keys at or before the query.
    /// The grouped-query form with NKV = NH and HS = C / NH.</summary>
    void Attention(IDeviceBuffer output, IDeviceBuffer qkv, int b, int t, int c, int heads, float scale)
    {
        if (heads <= 0 || c % heads != 0) throw new ArgumentException($"C = {c} is not a multiple of {heads} heads");
        Attention(output, qkv, b, t, heads, heads, c / heads, scale);
    }

    /// <summary>Attention for incremental decoding. Writes the new keys/values of qkv (B, Tnew, 3C) into the caches
    /// kCache, vCache (B, maxT, C) at positions past..past+Tnew-1, then each new query at position past+i attends to
    /// cached positions 0..past+i. out (B, Tnew, C). qkv, caches and out all of one type (F32 or Bf16). The
    /// grouped-query form with NKV = NH and HS = C / NH.</summary>
    void AttentionCached(IDeviceBuffer output, IDeviceBuffer qkv, IDeviceBuffer kCache, IDeviceBuffer vCache,
        int b, int tNew, int past, int maxT, int c, int heads, float scale)
    {
        if (heads <= 0 || c % heads != 0) throw new ArgumentException($"C = {c} is not a multiple of {heads} heads");
        AttentionCached(output, qkv, kCache, vCache, b, tNew, past, maxT, heads, heads, c / heads, scale);
    }

    /// <summary>x += y (residual). All F32.</summary>
    void Add(IDeviceBuffer x, IDeviceBuffer y, long n);

    /// <summary>x (rows, cols) += y (rows, cols) + bias (cols): the residual add fused with the bias of the product that
    /// made y (run with <see cref="MatMulEpilogue.None"/>). All F32.</summary>
    void AddBias(IDeviceBuffer x, IDeviceBuffer y, IDeviceBuffer bias, int rows, int cols);

    /// <summary>The fused residual + layer norm (llm.c's fused_residual_forward, with the bias of the product that made
    /// y folded in): residual (rows, C) += y (rows, C) + bias (C); then norm (rows, C) = layernorm(residual) * weight +
    /// lnBias, as <see cref="LayerNorm"/>. residual, y, bias F32; norm F32 or Bf16. One pass instead of two.</summary>
    void ResidualLayerNorm(IDeviceBuffer residual, IDeviceBuffer norm, IDeviceBuffer y, IDeviceBuffer bias,
        IDeviceBuffer weight, IDeviceBuffer lnBias, int rows, int c, float eps);

    /// <summary>out (count, C) = input[rows[i], :]. rows (count) I32; input and out of one type (F32 or Bf16; the
    /// copy is exact).</summary>
    void GatherRows(IDeviceBuffer output, IDeviceBuffer input, IDeviceBuffer rows, int count, int c);

    /// <summary>out (M) = surprisal in bits of targets[m] under softmax(hidden[m] @ head^T): (logsumexp(z) - z[target]) / ln 2,
    /// with z = hidden (M, C) @ head (V, C)^T over the V real logits. The head buffer holds
    /// <paramref name="headRows"/> &gt;= V rows (an aligned vocabulary: rows V.. are zero and never enter the
    /// log-sum-exp). hidden is <see cref="DTypes.GemmInput"/>; output F32. Never stores the normalized distribution.</summary>
    void Surprisal(IDeviceBuffer output, IDeviceBuffer hidden, IDeviceBuffer head, IDeviceBuffer targets, int m, int c, int v, int headRows);

    /// <summary>out (M, V) = hidden (M, C) @ head (V, C)^T: raw logits (for generation and parity checks). hidden is
    /// <see cref="DTypes.GemmInput"/>; out F32; the head may hold padding rows past V (never read).</summary>
    void Logits(IDeviceBuffer output, IDeviceBuffer hidden, IDeviceBuffer head, int m, int c, int v);

    /// <summary>Grouped-query causal attention (LLaMA-style): qkv (B, T, (NH + 2 NKV) HS) holds q (NH heads) | k (NKV
    /// heads) | v (NKV heads) per token; q head h reads k/v head h / (NH / NKV) (NKV divides NH; NKV = NH is
    /// <see cref="Attention(IDeviceBuffer, IDeviceBuffer, int, int, int, int, float)"/>). out (B, T, NH HS) of qkv's
    /// type (F32 or Bf16; arithmetic in fp32).</summary>
    void Attention(IDeviceBuffer output, IDeviceBuffer qkv, int b, int t, int heads, int kvHeads, int headSize, float scale);

    /// <summary>Grouped-query <see cref="AttentionCached(IDeviceBuffer, IDeviceBuffer, IDeviceBuffer, IDeviceBuffer, int, int, int, int, int, int, float)"/>:
    /// qkv (B, Tnew, (NH + 2 NKV) HS), caches (B, maxT, NKV HS), out (B, Tnew, NH HS); all of one type.</summary>
    void AttentionCached(IDeviceBuffer output, IDeviceBuffer qkv, IDeviceBuffer kCache, IDeviceBuffer vCache,
        int b, int tNew, int past, int maxT, int heads, int kvHeads, int headSize, float scale);

    /// <summary>RMSNorm (LLaMA, OLMo-2): out (rows, C) = x / sqrt(mean(x^2) + eps) * weight per row. input and weight
    /// F32; output F32 or Bf16 (rounded once, from the fp32 result), as <see cref="LayerNorm"/>.</summary>
    void RmsNorm(IDeviceBuffer output, IDeviceBuffer input, IDeviceBuffer weight, int rows, int c, float eps);

    /// <summary>The fused residual + RMSNorm, as <see cref="ResidualLayerNorm"/>: residual (rows, C) += y + bias (C)
    /// (bias null: += y); then norm = rmsnorm(residual) * weight. residual, y, bias, weight F32; norm F32 or Bf16.</summary>
    void ResidualRmsNorm(IDeviceBuffer residual, IDeviceBuffer norm, IDeviceBuffer y, IDeviceBuffer? bias, IDeviceBuffer weight,
        int rows, int c, float eps);

    /// <summary>SwiGLU: out (rows, inner) = silu(gate) * up, silu(g) = g sigmoid(g), gate and up (rows, inner) (the two
    /// products). gate, up and out of one type: F32, or Bf16 in bf16 mode (computed in fp32, rounded once).</summary>
    void SwiGlu(IDeviceBuffer output, IDeviceBuffer gate, IDeviceBuffer up, int rows, int inner);

    /// <summary>SwiGLU from a fused product gateUp (rows, 2 inner) = gate | up per row; out (rows, inner). Types as
    /// <see cref="SwiGlu"/>.</summary>
    void SwiGluFused(IDeviceBuffer output, IDeviceBuffer gateUp, int rows, int inner);

    /// <summary>OLMo-2's QK-norm in place on qkv (rows, (NH + 2 NKV) HS): each row's q (NH HS values, all heads, before
    /// the head split) RMSNormed with qWeight (NH HS), its k (NKV HS) with kWeight (NKV HS); v untouched. qkv F32 or
    /// Bf16 (fp32 statistics, rounded once); weights F32.</summary>
    void QkNorm(IDeviceBuffer qkv, IDeviceBuffer qWeight, IDeviceBuffer kWeight, int rows, int heads, int kvHeads, int headSize, float eps);

    /// <summary>x (n) = clamp(x, -limit, limit) in place (OLMo's clip_qkv on the qkv product); NaN stays NaN. x F32 or
    /// Bf16.</summary>
    void Clamp(IDeviceBuffer x, long n, float limit);

    /// <summary>x = 0.5 x (1 + erf(x / sqrt 2)) in place: the exact GELU (GPT-NeoX). x F32 or Bf16 (computed in fp32,
    /// rounded back). The default runs <see cref="CpuOps.GeluErf"/> on a host copy (correct on any backend; one without
    /// its own kernel pays two copies).</summary>
    void GeluErf(IDeviceBuffer x, long n)
    {
        var host = new float[n];
        Download(x, host);
        CpuOps.GeluErf(host);
        Write(x, host);
    }

    /// <summary>out (n) = input (n) in out's type: F32 to Bf16 rounds to nearest even, Bf16 to F32 is exact, equal types
    /// copy. OLMo-2 feeds its fp32 residual stream to a product this way in bf16 mode (it has no pre-norm). The
    /// default runs on a host copy, as <see cref="GeluErf"/>.</summary>
    void Convert(IDeviceBuffer output, IDeviceBuffer input, long n)
    {
        var host = new float[n];
        Download(input, host);
        Write(output, host);
    }

    /// <summary>Rotary position embedding (GPT-NeoX) in place on the q and k of qkv (B, T, 3C), for tokens at positions
    /// past..past+T-1, on the first <paramref name="rotaryDims"/> dimensions of each head (see <see cref="CpuOps.Rotary"/>).
    /// qkv F32 or Bf16 (computed in fp32, rounded back). The default runs it on a host copy, as <see cref="GeluErf"/>.</summary>
    void Rotary(IDeviceBuffer qkv, int b, int t, int c, int heads, int rotaryDims, RotaryFrequencies rotary, int past)
    {
        if (heads <= 0 || c % heads != 0) throw new ArgumentException($"rotary: width {c} is not a multiple of {heads} heads");
        Rotary(qkv, b, t, heads, heads, c / heads, rotaryDims, rotary, past);
    }

    /// <summary>Rotary embedding with grouped-query attention (LLaMA: the same rotate-half layout, full rotary
    /// R = HS with the frequencies of rope_theta and any rope scaling, <paramref name="rotary"/>): qkv (B, T, (NH + 2 NKV) HS), the NH q heads and NKV k
    /// heads turn. The default runs <see cref="CpuOps.Rotary(Span{float}, int, int, int, int, int, int, RotaryFrequencies, int)"/>
    /// on a host copy.</summary>
    void Rotary(IDeviceBuffer qkv, int b, int t, int heads, int kvHeads, int headSize, int rotaryDims, RotaryFrequencies rotary, int past)
    {
        var host = new float[(long)b * t * (heads + 2 * kvHeads) * headSize];
        Download(qkv, host);
        CpuOps.Rotary(host, b, t, heads, kvHeads, headSize, rotaryDims, rotary, past);
        Write(qkv, host);
    }

    /// <summary>Rotary embedding of q and k (positions 0..T-1, the first <paramref name="rotaryDims"/> dims of each head;
    /// 0: none) followed by <see cref="Attention(IDeviceBuffer, IDeviceBuffer, int, int, int, int, int, float)"/>, for
    /// a forward pass without a KV cache (scoring): the output is exactly that of <see cref="Rotary(IDeviceBuffer, int, int, int, int, int, int, RotaryFrequencies, int)"/>
    /// then Attention, but qkv's q and k are left either rotated or as given (a backend may turn them inside the
    /// attention kernel, one pass over qkv fewer). The default runs the two ops.</summary>
    void AttentionRotary(IDeviceBuffer output, IDeviceBuffer qkv, int b, int t, int heads, int kvHeads, int headSize, float scale,
        int rotaryDims, RotaryFrequencies rotary)
    {
        if (rotaryDims > 0) Rotary(qkv, b, t, heads, kvHeads, headSize, rotaryDims, rotary, 0);
        Attention(output, qkv, b, t, heads, kvHeads, headSize, scale);
    }
}

/// <summary>Argument checks shared by the backends' MatMul.</summary>
public static class MatMulEpilogues
{
    /// <summary>Throws unless <paramref name="bias"/> is given exactly when <paramref name="epilogue"/> adds one.</summary>
    public static void CheckBias(MatMulEpilogue epilogue, IDeviceBuffer? bias)
    {
        if (epilogue == MatMulEpilogue.None && bias is not null) throw new ArgumentException("MatMul epilogue None takes no bias");
        if (epilogue != MatMulEpilogue.None && bias is null) throw new ArgumentException($"MatMul epilogue {epilogue} needs a bias");
    }

    /// <summary>The type checks of MatMul on every backend: input <see cref="DTypes.GemmInput"/> of
    /// <paramref name="p"/>, output F32 or Bf16 (F32 for BiasResidual; Bf16 only from Bf16 operands), bias F32.</summary>
    public static void CheckTypes(Precision p, MatMulEpilogue epilogue, IDeviceBuffer output, IDeviceBuffer input, IDeviceBuffer? bias)
    {
        DTypes.Check(input, DTypes.GemmInput(p), "MatMul", "input");
        if (epilogue == MatMulEpilogue.BiasResidual) DTypes.Check(output, DType.F32, "MatMul (BiasResidual)", "output");
        else DTypes.CheckFloat(output, "MatMul", "output");
        if (output.Type == DType.Bf16 && input.Type != DType.Bf16)
            throw new ArgumentException($"MatMul: a Bf16 output needs Bf16 operands (bf16 mode), got input {input.Type}");
        // The bias has the output's type (cuBLASLt's rule: a bf16 output takes a bf16 bias).
        if (bias is not null) DTypes.Check(bias, output.Type, "MatMul", "bias");
    }
}
