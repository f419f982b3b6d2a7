using System.Globalization;
using LearningCurves.Engine.Benchmarks;
using LearningCurves.Kernels;
using LearningCurves.Runner.Cli;

namespace LearningCurves.Runner.Benchmarks;

/// <summary>`bench engine`: forward-pass throughput on the GPT-2-small shape and a tiny one.</summary>
public sealed class EngineBenchmark : IBenchmark
{
    public string Name => "engine";

    public string Description => "forward pass: tokens/s and GFLOP/s on GPT-2-small (T=128) and a tiny model, or a TinyLlama / OLMo-2-1B shape; on CUDA also launches per forward, and on the software GPU the cost model's predicted H200 time instead of timings [--backend --precision --batch --repeats --quick --profile --model --layers]";

    public IReadOnlyList<CliOption> Options { get; } =
    [
        .. BackendChoice.Options("cpu"),
        new("batch", "N", "sequences per forward pass (default 16; on CUDA sized to the card)"),
        new("repeats", "N", "timed repeats, the median is reported (default 3)"),
        CliOption.Switch("quick", "fewer and smaller timings"),
        new("model", "NAME", "time a LLaMA-family shape instead: tinyllama (22 layers, 2048 wide, 32/4 heads, V=32,000) or olmo2-1b (16 layers, 2048 wide, V=100,352); with --quick at T=32"),
        new("layers", "N", "with --model: only the first N layers (a short run; the head and embeddings stay full size)"),
        CliOption.Switch("profile", "time every operation of the forward pass"),
    ];

    public int Run(Args args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var (backendName, precision) = BackendChoice.Read(args, "cpu");
        int? batchArg = args.Has("batch") ? args.GetInt("batch", 16, 1, 4096) : null;
        int batch = batchArg ?? 16;
        int repeats = args.GetInt("repeats", 3, 1, 1000);
        bool quick = args.Switch("quick");
        bool profile = args.Switch("profile");
        string? modelName = args.Has("model") ? args.GetChoice("model", "tinyllama", "tinyllama", "olmo2-1b") : null;
        int? layersArg = args.Has("layers") ? args.GetInt("layers", 1, 1, 64) : null;
        args.RejectUnknown(maxPositional: 1);

        using var realBackend = BackendFactory.Create(backendName, precision, Console.Out);
        var timing = new TimingBackend(realBackend);
        // The host-timed wrapper would only see launch times on the GPU; CUDA profiles with events instead.
        Engine.Backends.IBackend backend = profile && realBackend is not CudaBackend ? timing : realBackend;
        Console.WriteLine($"device: {backend.DeviceName}");
        Console.WriteLine($"date: {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, precision {BackendFactory.Describe(precision)}");
        double sgemm = backend.Name == "cpu" ? ForwardBenchmark.SgemmGflops() : double.NaN;
        if (!double.IsNaN(sgemm)) Console.WriteLine($"cblas_sgemm (2048x768 @ 768x3072): {sgemm:F1} GFLOP/s");
        var cuda = realBackend as CudaBackend;
        // On the software GPU nothing is timed: its times are the emulator's, not a GPU's (and the matrix-rate products
        // would take many minutes to emulate). It counts each launch's work instead, and the cost model predicts the H200.
        var counters = cuda is not null ? SoftwareGpuCounters.TryOpen() : null;
        if (counters is not null)
            return RunCostModel(cuda!, counters, batchArg ?? 128, quick, profile, LlamaShape(modelName, layersArg));
        if (cuda is not null)
        {
            // On the GPU the yardstick is the card's own matrix rate in the same precision, measured now.
            sgemm = CudaBenchmarkParts.MatrixRateGflops(cuda, precision, quick, Console.Out);
            batch = batchArg ?? CudaBenchmarkParts.DefaultBatch(realBackend, ForwardBenchmark.Gpt2Small(), 128);
        }

        var cases = new List<(string Shape, Engine.Model.ModelConfig Cfg, int B, int T, int K)>();
        if (LlamaShape(modelName, layersArg) is { } shapeCfg)
        {
            int t = quick ? 32 : 128;
            cases.Add(($"{modelName} ({shapeCfg.Layers}L, {shapeCfg.Heads}/{shapeCfg.KvHeadCount} heads), head on 10", shapeCfg, batchArg ?? (quick ? 1 : batch), t, 10));
        }
        else cases.Add(("tiny (2L, 64 wide, V=1000)", ForwardBenchmark.Tiny, batch, 128, 127));
        if (!quick && modelName is null)
        {
            cases.Add(("gpt2-small, head on 10 positions", ForwardBenchmark.Gpt2Small(), batch, 128, 10));
            cases.Add(("gpt2-small, head on all 127", ForwardBenchmark.Gpt2Small(), batch, 128, 127));
            cases.Add(("gpt_neox same size, head on 10", ForwardBenchmark.NeoXSmall(), batch, 128, 10));
            if (cuda is not null)
            {
                cases.Add(("gpt2-small V=51200, head on 10", ForwardBenchmark.Gpt2Small(51200), batch, 128, 10));
                cases.Add(("gpt2-small V=51200, head on all 127", ForwardBenchmark.Gpt2Small(51200), batch, 128, 127));
            }
        }
        Console.WriteLine();
        Console.WriteLine($"{"shape",-36} {"B",4} {"T",4} {"K",4} {"s/batch",9} {"tokens/s",10} {"GFLOP/s",8} {(cuda is null ? "of sgemm" : "of matrix"),9}");
        foreach (var (shape, cfg, b, t, k) in cases)
        {
            long launchesBefore = cuda?.Launches ?? 0, replaysBefore = cuda?.GraphReplays ?? 0;
            var r = CudaBenchmarkParts.Run(backend, cuda, cfg, shape, b, t, k, repeats, precision);
            string share = double.IsNaN(sgemm) ? "-" : (r.GflopPerSecond / sgemm).ToString("P0", CultureInfo.InvariantCulture);
            Console.WriteLine($"{shape,-36} {b,4} {t,4} {k,4} {r.SecondsPerBatch,9:F3} {r.TokensPerSecond,10:F0} {r.GflopPerSecond,8:F1} {share,9}");
            // Warm-up plus the timed repeats: repeats + 1 forward passes.
            if (cuda is not null) Console.WriteLine($"    launches per forward: {(cuda.Launches - launchesBefore) / (repeats + 1)}");
            if (cuda is not null && cuda.GraphReplays > replaysBefore)
                Console.WriteLine($"    graph: 1 launch per forward ({(cuda.Launches - launchesBefore) / (repeats + 1)} kernels), {cuda.GraphReplays - replaysBefore} of {repeats + 1} forward passes replayed");
            if (profile && cuda is not null) CudaBenchmarkParts.PrintKernelTable(cuda, cfg, b, t, k, Console.Out);
            else if (profile) PrintProfile(timing);
        }
        return 0;
    }

    /// <summary>The software GPU's `bench engine`: per shape, the launches of one forward pass and the H200 time the cost
    /// model predicts, from work counted at B = 1 and 2 and extrapolated to <paramref name="batch"/>.</summary>
    /// <summary>The shape `--model` names (with `--layers`), or null.</summary>
    private static Engine.Model.ModelConfig? LlamaShape(string? modelName, int? layers)
    {
        if (modelName is null) return null;
        var cfg = modelName == "olmo2-1b" ? ForwardBenchmark.Olmo2OneB() : ForwardBenchmark.TinyLlama();
        return layers is int nl ? cfg with { Layers = Math.Min(nl, cfg.Layers) } : cfg;
    }

    private static int RunCostModel(CudaBackend cuda, SoftwareGpuCounters counters, int batch, bool quick, bool profile, Engine.Model.ModelConfig? llama)
    {
        Console.WriteLine("software GPU: no timings and no matrix rate (the emulator's times say nothing about a GPU); each launch's work is");
        Console.WriteLine("counted instead (GEMMs exactly from their shapes; kernels' bytes by first-touch pages, 4 KiB granularity)");
        Console.WriteLine($"and the cost model predicts the H200 of 2026-12-04 ({CostModel.Bandwidth / 1e12:F2} TB/s; {CostModel.Bf16FlopsPerSecond / 1e12:F0} / {CostModel.Tf32FlopsPerSecond / 1e12:F0} / {CostModel.Fp32FlopsPerSecond / 1e12:F0} TFLOP/s bf16 / tf32 / fp32).");
        var cases = new List<(string Shape, Engine.Model.ModelConfig Cfg, int K)>
        {
            ("tiny (2L, 64 wide, V=1000)", ForwardBenchmark.Tiny, 127),
            ("gpt2-small, head on 10 positions", ForwardBenchmark.Gpt2Small(), 10),
        };
        if (llama is not null)
        {
            cases.Clear();
            cases.Add(($"{llama.ModelType} ({llama.Layers}L, {llama.Heads}/{llama.KvHeadCount} heads, V={llama.VocabSize}), head on 10", llama, 10));
        }
        else if (!quick)
        {
            cases.Add(("gpt2-small, head on all 127", ForwardBenchmark.Gpt2Small(), 127));
            cases.Add(("gpt_neox same size, head on 10", ForwardBenchmark.NeoXSmall(), 10));
        }
        const int t = 128;
        foreach (var (shape, cfg, k) in cases)
        {
            var sw = System.Diagnostics.Stopwatch.StartNew();
            // The linearity check (a third count, at B=3) on the tiny shape and on the shape the real GPU is compared on.
            bool check = cfg.Layers <= 2 || (k == 10 && cfg.Architecture == Engine.Model.Architecture.Gpt2);
            var (launches, linearity, graphNodes) = CostModel.Predict(cuda, counters, cfg, batch, t, k, check);
            Console.WriteLine();
            Console.WriteLine($"{shape}, B={batch}, T={t}, K={k} (counted at B=1 and 2 in {sw.Elapsed.TotalSeconds:F0} s, extrapolated)");
            if (linearity is not null) Console.WriteLine($"    linearity: {linearity}");
            int chunk = CudaBackend.HeadChunk(batch * k, cfg.VocabSize), chunks = (cfg.VocabSize + chunk - 1) / chunk;
            if (chunks > 1)
                Console.WriteLine($"    note: at B={batch} the head runs in {chunks} vocabulary chunks (one at B=1, 2): same bytes and FLOPs, {2 * (chunks - 1)} launches more than predicted");
            CostModel.Print(launches, batch, t, profile, Console.Out, graphNodes);
        }
        return 0;
    }

    private static void PrintProfile(TimingBackend timing)
    {
        double total = timing.Times.Values.Sum(v => v.Seconds);
        foreach (var (op, (sec, calls)) in timing.Times.OrderByDescending(kv => kv.Value.Seconds))
            Console.WriteLine($"    {op,-24} {calls,7} calls {sec * 1000,10:F1} ms {sec / total,7:P1}");
        timing.Reset();
    }
}
