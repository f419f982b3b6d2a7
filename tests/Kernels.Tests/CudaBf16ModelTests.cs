using LearningCurves.Engine.Backends;
using LearningCurves.Tests.Common;
using Xunit;

namespace LearningCurves.Kernels.Tests;

/// <summary>
/// The CUDA backend's bf16 numerics modelled on the CPU: weights and GEMM inputs (the blocks' activations, the final
/// hidden state before the head) rounded to bf16, products accumulated in fp32, everything else fp32. Run on the
/// parity fixtures, it predicts without a GPU how the bf16 mode compares with the float64 references.
/// Finding (2026-11-25): rounding the head's input alone stays within the 0.1-bit target; rounding the transformer
/// blocks' GEMM inputs reaches about 0.125 bits on two of the random fixture models (inverse-idx-bf16,
/// tied-prefix-f32), so the full bf16 mode is expected to miss the strict target there by that much. The second case
/// guards that figure against getting worse (limit 0.2) rather than claiming the target.
/// </summary>
public class CudaBf16ModelTests
{
    [Theory]
    [InlineData(false, true, 0.1)]
    [InlineData(true, true, 0.2)]
    public void Bf16_numerics_model_on_the_fixtures(bool roundBlocks, bool roundHead, double limit)
    {
        var dir = Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "parity");
        Assert.SkipUnless(Directory.Exists(dir), "tests/fixtures/parity is not in this checkout");
        using var model = new Bf16InputsBackend(roundBlocks, roundHead);
        using var cpu = new CpuBackend(Precision.Bf16);
        var rows = new List<VerifyRow>();
        foreach (var c in ParityFixtures.Load(dir))
        {
            var row = Assert.Single(Verification.Run(c, Precision.Bf16, model, cpu), r => r.Against == "float64");
            rows.Add(row with { Limit = limit });
        }
        Assert.True(rows.All(r => r.Passed), string.Join("\n", rows.Select(r => r.Format())));
        Assert.True(rows.Max(r => r.Stats.MaxAbs) > 0, "rounding the inputs must change something");
    }

    /// <summary>CpuBackend(bf16) whose matrix products and head see bf16-rounded inputs, like cublasGemmEx on bf16.</summary>
    private sealed class Bf16InputsBackend(bool roundBlocks, bool roundHead) : IBackend
    {
        private readonly CpuBackend _cpu = new(Precision.Bf16);

        public string Name => "cpu-bf16-inputs";
        public string DeviceName => _cpu.DeviceName;
        public Precision Precision => Precision.Bf16;
        public long? FreeMemoryBytes => null;
        public IDeviceBuffer Allocate(long length) => _cpu.Allocate(length);
        public IDeviceBuffer AllocateInts(long length) => _cpu.AllocateInts(length);
        public IDeviceBuffer Upload(ReadOnlySpan<float> data) => _cpu.Upload(data);
        public IDeviceBuffer UploadWeight(ReadOnlySpan<float> data) => _cpu.UploadWeight(data);
        public void Write(IDeviceBuffer dst, ReadOnlySpan<int> data) => _cpu.Write(dst, data);
        public void Write(IDeviceBuffer dst, ReadOnlySpan<float> data) => _cpu.Write(dst, data);
        public void Download(IDeviceBuffer src, Span<float> dst) => _cpu.Download(src, dst);
        public void Synchronize() => _cpu.Synchronize();
        public void Embed(IDeviceBuffer o, IDeviceBuffer t, IDeviceBuffer wte, IDeviceBuffer wpe, int b, int tt, int c) => _cpu.Embed(o, t, wte, wpe, b, tt, c);
        public void LayerNorm(IDeviceBuffer o, IDeviceBuffer i, IDeviceBuffer w, IDeviceBuffer b, int rows, int c, float eps) => _cpu.LayerNorm(o, i, w, b, rows, c, eps);
        public void Attention(IDeviceBuffer o, IDeviceBuffer qkv, int b, int t, int c, int h, float s) => _cpu.Attention(o, qkv, b, t, c, h, s);
        public void AttentionCached(IDeviceBuffer o, IDeviceBuffer qkv, IDeviceBuffer k, IDeviceBuffer v, int b, int tn, int past, int maxT, int c, int h, float s) =>
            _cpu.AttentionCached(o, qkv, k, v, b, tn, past, maxT, c, h, s);
        public void Add(IDeviceBuffer x, IDeviceBuffer y, long n) => _cpu.Add(x, y, n);
        public void AddBias(IDeviceBuffer x, IDeviceBuffer y, IDeviceBuffer bias, int rows, int cols) => _cpu.AddBias(x, y, bias, rows, cols);
        public void GatherRows(IDeviceBuffer o, IDeviceBuffer i, IDeviceBuffer r, int count, int c) => _cpu.GatherRows(o, i, r, count, c);

        public void MatMul(IDeviceBuffer output, IDeviceBuffer input, IDeviceBuffer weight, IDeviceBuffer? bias, int rows, int inDim, int outDim, MatMulEpilogue epilogue)
        {
            if (!roundBlocks)
            {
                _cpu.MatMul(output, input, weight, bias, rows, inDim, outDim, epilogue);
                return;
            }
            using var x = Rounded(input, (long)rows * inDim);
            _cpu.MatMul(output, x, weight, bias, rows, inDim, outDim, epilogue);
        }

        public void Surprisal(IDeviceBuffer o, IDeviceBuffer hidden, IDeviceBuffer head, IDeviceBuffer targets, int m, int c, int v)
        {
            if (!roundHead)
            {
                _cpu.Surprisal(o, hidden, head, targets, m, c, v);
                return;
            }
            using var h = Rounded(hidden, (long)m * c);
            _cpu.Surprisal(o, h, head, targets, m, c, v);
        }

        public void Logits(IDeviceBuffer o, IDeviceBuffer hidden, IDeviceBuffer head, int m, int c, int v)
        {
            using var h = Rounded(hidden, (long)m * c);
            _cpu.Logits(o, h, head, m, c, v);
        }

        private IDeviceBuffer Rounded(IDeviceBuffer src, long n)
        {
            var host = new float[n];
            _cpu.Download(src, host);
            CpuOps.RoundToBf16(host);
            return _cpu.Upload(host);
        }

        public void Dispose() => _cpu.Dispose();
    }
}
