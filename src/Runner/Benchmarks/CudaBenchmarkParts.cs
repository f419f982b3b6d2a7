using System.Globalization;
using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Model;
using LearningCurves.Kernels;

namespace LearningCurves.Runner.Benchmarks;

/// <summary>The CUDA-only parts of `bench engine`: the card's measured matrix rates (the yardstick for model FLOP/s)
/// and a per-kernel time table from CUDA events.</summary>
public static class CudaBenchmarkParts
{
    /// <summary>Measures and prints the bf16, tf32 and fp32 matrix rates; returns the one for <paramref name="precision"/>
    /// in GFLOP/s (the unit of the engine table).</summary>
    public static double MatrixRateGflops(CudaBackend cuda, Precision precision, bool quick, TextWriter w)
    {
        ArgumentNullException.ThrowIfNull(cuda);
        ArgumentNullException.ThrowIfNull(w);
        int n = quick ? 4096 : 8192;
        double mine = double.NaN;
        foreach (var p in new[] { Precision.Bf16, Precision.Tf32, Precision.Fp32 })
        {
            double tflops = cuda.MeasureMatrixTflops(p, n, quick ? 5 : 20);
            w.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"matrix rate {BackendFactory.Describe(p),-4} (cublasGemmEx {n}^3, random data): {tflops:F1} TFLOP/s"));
            if (p == precision) mine = tflops * 1000;
        }
        return mine;
    }

    /// <summary>ForwardBenchmark.Run, with a CUDA out-of-memory error turned into one line naming a batch that fits.</summary>
    public static Engine.Benchmarks.ForwardResult Run(IBackend backend, CudaBackend? cuda, ModelConfig cfg, string shape, int b, int t, int k, int repeats, Precision p)
    {
        try
        {
            return Engine.Benchmarks.ForwardBenchmark.Run(backend, cfg, shape, b, t, k, repeats);
        }
        catch (Kernels.Native.CudaOutOfMemoryException e) when (cuda is not null)
        {
            // Everything of the failed attempt is freed by now: what the activations can have is free minus weights.
            long available = (cuda.FreeMemoryBytes ?? 0) - BatchSizing.WeightBytes(cfg, p, untiedHead: false);
            throw BatchSizing.OutOfMemory(e, cfg, t, b, available);
        }
    }

    /// <summary>The batch for CUDA when --batch is not given: what fits in free memory, capped at 128 sequences
    /// (larger batches gain little on GPT-2-small at T=128 and take longer to set up).</summary>
    public static int DefaultBatch(IBackend backend, ModelConfig cfg, int t) => Math.Min(128, BatchSizing.Choose(backend, cfg, t, null));

    /// <summary>Runs one Score call of B x T with K scored positions under CUDA-event profiling and prints the table.</summary>
    public static void PrintKernelTable(CudaBackend cuda, ModelConfig cfg, int b, int t, int k, TextWriter w)
    {
        ArgumentNullException.ThrowIfNull(cuda);
        ArgumentNullException.ThrowIfNull(w);
        var weights = ModelWeights.Random(cfg, 7);
        using var model = new DecoderModel(cuda, weights);
        var rng = new Random(7);
        var seqs = Enumerable.Range(0, b).Select(_ => Enumerable.Range(0, t).Select(_ => rng.Next(cfg.VocabSize)).ToArray()).ToArray();
        var positions = seqs.Select(_ => Enumerable.Range(1, t - 1).OrderBy(_ => rng.Next()).Take(k).Order().ToArray()).ToArray();
        model.Score(seqs, positions); // warm-up
        cuda.StartProfile();
        model.Score(seqs, positions);
        var table = cuda.StopProfile();
        double total = table.Sum(x => x.TotalMs);
        w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    per-kernel device time (CUDA events), one batch of {b} x {t}, head on {k}:"));
        foreach (var row in table)
        {
            w.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"    {row.Name,-46} {row.Calls,6} calls {row.TotalMs,10:F3} ms {row.MeanMs * 1000,10:F1} us/call {row.TotalMs / total,7:P1}"));
        }
        w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    {"total",-46} {table.Sum(x => x.Calls),6} calls {total,10:F3} ms"));
    }
}
