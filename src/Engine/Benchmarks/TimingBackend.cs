using System.Diagnostics;
using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Model;

namespace LearningCurves.Engine.Benchmarks;

/// <summary>
/// Wraps a backend and adds up wall time per operation (waiting for the device after each op, so the numbers are
/// per-op costs, not overlapped ones). For profiling tables; never used on the production path.
/// </summary>
public sealed class TimingBackend : IBackend
{
    private readonly IBackend _inner;
    private readonly Dictionary<string, (double Seconds, long Calls)> _times = new(StringComparer.Ordinal);

    public TimingBackend(IBackend inner) => _inner = inner ?? throw new ArgumentNullException(nameof(inner));

    /// <summary>Seconds and calls per operation since the last <see cref="Reset"/>.</summary>
    public IReadOnlyDictionary<string, (double Seconds, long Calls)> Times => _times;

    public void Reset() => _times.Clear();

    private void Time(string op, Action a)
    {
        var sw = Stopwatch.StartNew();
        a();
        _inner.Synchronize();
        var (s, n) = _times.GetValueOrDefault(op);
        _times[op] = (s + sw.Elapsed.TotalSeconds, n + 1);
    }

    public string Name => _inner.Name;
    public string DeviceName => _inner.DeviceName;
    public Precision Precision => _inner.Precision;
    public long? FreeMemoryBytes => _inner.FreeMemoryBytes;
    public IDeviceBuffer Allocate(long length, DType type) => _inner.Allocate(length, type);
    public IDeviceBuffer Upload(ReadOnlySpan<float> data) => _inner.Upload(data);
    public IDeviceBuffer UploadWeight(ReadOnlySpan<float> data) => _inner.UploadWeight(data);
    public void Write(IDeviceBuffer dst, ReadOnlySpan<int> data) => _inner.Write(dst, data);
    public void Write(IDeviceBuffer dst, ReadOnlySpan<float> data) => _inner.Write(dst, data);
    public void WriteStored(IDeviceBuffer dst, long offset, ReadOnlySpan<byte> src, StoredType type) => _inner.WriteStored(dst, offset, src, type);
    public void Download(IDeviceBuffer src, Span<float> dst) => _inner.Download(src, dst);
    public void Synchronize() => _inner.Synchronize();

    public void Embed(IDeviceBuffer output, IDeviceBuffer tokens, IDeviceBuffer wte, IDeviceBuffer wpe, int b, int t, int c) =>
        Time("embed", () => _inner.Embed(output, tokens, wte, wpe, b, t, c));

    public void LayerNorm(IDeviceBuffer output, IDeviceBuffer input, IDeviceBuffer weight, IDeviceBuffer bias, int rows, int c, float eps) =>
        Time("layernorm", () => _inner.LayerNorm(output, input, weight, bias, rows, c, eps));

    public void ResidualLayerNorm(IDeviceBuffer residual, IDeviceBuffer norm, IDeviceBuffer y, IDeviceBuffer bias,
        IDeviceBuffer weight, IDeviceBuffer lnBias, int rows, int c, float eps) =>
        Time("residual + layernorm", () => _inner.ResidualLayerNorm(residual, norm, y, bias, weight, lnBias, rows, c, eps));

    public void MatMul(IDeviceBuffer output, IDeviceBuffer input, IDeviceBuffer weight, IDeviceBuffer? bias, int rows, int inDim, int outDim, MatMulEpilogue epilogue) =>
        Time(epilogue switch
        {
            MatMulEpilogue.BiasGelu => $"matmul {inDim}x{outDim} + gelu",
            MatMulEpilogue.BiasResidual => $"matmul {inDim}x{outDim} + residual",
            _ => $"matmul {inDim}x{outDim}",
        },
            () => _inner.MatMul(output, input, weight, bias, rows, inDim, outDim, epilogue));

    public void Attention(IDeviceBuffer output, IDeviceBuffer qkv, int b, int t, int c, int heads, float scale) =>
        Time("attention", () => _inner.Attention(output, qkv, b, t, c, heads, scale));

    public void AttentionCached(IDeviceBuffer output, IDeviceBuffer qkv, IDeviceBuffer kCache, IDeviceBuffer vCache,
        int b, int tNew, int past, int maxT, int c, int heads, float scale) =>
        Time("attention (cached)", () => _inner.AttentionCached(output, qkv, kCache, vCache, b, tNew, past, maxT, c, heads, scale));


    public void Attention(IDeviceBuffer output, IDeviceBuffer qkv, int b, int t, int heads, int kvHeads, int headSize, float scale) =>
        Time("attention", () => _inner.Attention(output, qkv, b, t, heads, kvHeads, headSize, scale));

    public void AttentionCached(IDeviceBuffer output, IDeviceBuffer qkv, IDeviceBuffer kCache, IDeviceBuffer vCache,
        int b, int tNew, int past, int maxT, int heads, int kvHeads, int headSize, float scale) =>
        Time("attention (cached)", () => _inner.AttentionCached(output, qkv, kCache, vCache, b, tNew, past, maxT, heads, kvHeads, headSize, scale));

    public void RmsNorm(IDeviceBuffer output, IDeviceBuffer input, IDeviceBuffer weight, int rows, int c, float eps) =>
        Time("rmsnorm", () => _inner.RmsNorm(output, input, weight, rows, c, eps));

    public void ResidualRmsNorm(IDeviceBuffer residual, IDeviceBuffer norm, IDeviceBuffer y, IDeviceBuffer? bias, IDeviceBuffer weight,
        int rows, int c, float eps) =>
        Time("residual + rmsnorm", () => _inner.ResidualRmsNorm(residual, norm, y, bias, weight, rows, c, eps));

    public void SwiGlu(IDeviceBuffer output, IDeviceBuffer gate, IDeviceBuffer up, int rows, int inner) =>
        Time("swiglu", () => _inner.SwiGlu(output, gate, up, rows, inner));

    public void SwiGluFused(IDeviceBuffer output, IDeviceBuffer gateUp, int rows, int inner) =>
        Time("swiglu", () => _inner.SwiGluFused(output, gateUp, rows, inner));

    public void QkNorm(IDeviceBuffer qkv, IDeviceBuffer qWeight, IDeviceBuffer kWeight, int rows, int heads, int kvHeads, int headSize, float eps) =>
        Time("qk norm", () => _inner.QkNorm(qkv, qWeight, kWeight, rows, heads, kvHeads, headSize, eps));

    public void Clamp(IDeviceBuffer x, long n, float limit) => Time("clamp", () => _inner.Clamp(x, n, limit));

    public void Rotary(IDeviceBuffer qkv, int b, int t, int heads, int kvHeads, int headSize, int rotaryDims, RotaryFrequencies rotary, int past) =>
        Time("rotary", () => _inner.Rotary(qkv, b, t, heads, kvHeads, headSize, rotaryDims, rotary, past));

    public void AttentionRotary(IDeviceBuffer output, IDeviceBuffer qkv, int b, int t, int heads, int kvHeads, int headSize, float scale,
        int rotaryDims, RotaryFrequencies rotary) =>
        Time("attention + rotary", () => _inner.AttentionRotary(output, qkv, b, t, heads, kvHeads, headSize, scale, rotaryDims, rotary));

    public void GeluErf(IDeviceBuffer x, long n) => Time("gelu (erf)", () => _inner.GeluErf(x, n));

    public void Convert(IDeviceBuffer output, IDeviceBuffer input, long n) => Time("convert", () => _inner.Convert(output, input, n));

    public void Rotary(IDeviceBuffer qkv, int b, int t, int c, int heads, int rotaryDims, RotaryFrequencies rotary, int past) =>
        Time("rotary", () => _inner.Rotary(qkv, b, t, c, heads, rotaryDims, rotary, past));

    public void Add(IDeviceBuffer x, IDeviceBuffer y, long n) => Time("residual add", () => _inner.Add(x, y, n));

    public void AddBias(IDeviceBuffer x, IDeviceBuffer y, IDeviceBuffer bias, int rows, int cols) =>
        Time("residual + bias add", () => _inner.AddBias(x, y, bias, rows, cols));

    public void GatherRows(IDeviceBuffer output, IDeviceBuffer input, IDeviceBuffer rows, int count, int c) =>
        Time("gather rows", () => _inner.GatherRows(output, input, rows, count, c));

    public void Surprisal(IDeviceBuffer output, IDeviceBuffer hidden, IDeviceBuffer head, IDeviceBuffer targets, int m, int c, int v, int headRows) =>
        Time("surprisal head", () => _inner.Surprisal(output, hidden, head, targets, m, c, v, headRows));

    public void Logits(IDeviceBuffer output, IDeviceBuffer hidden, IDeviceBuffer head, int m, int c, int v) =>
        Time("logits", () => _inner.Logits(output, hidden, head, m, c, v));

    /// <summary>Disposes nothing: the wrapped backend belongs to the caller.</summary>
    public void Dispose()
    {
    }
}
