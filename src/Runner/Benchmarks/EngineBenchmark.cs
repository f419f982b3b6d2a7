using System.Globalization;
using LearningCurves.Engine.Benchmarks;
using LearningCurves.Kernels;
using LearningCurves.Runner.Cli;

namespace LearningCurves.Runner.Benchmarks;

/// <summary>`bench engine`: forward-pass throughput on the GPT-2-small shape and a tiny one.</summary>
public sealed class EngineBenchmark : IBenchmark
{
    public string Name => "engine";

    public string Description => "forward pass: tokens/s and GFLOP/s on GPT-2-small (T=128) and a tiny model [--backend --precision --batch --repeats --quick --profile]";

    public IReadOnlyList<CliOption> Options { get; } =
    [
        CliOption.Backend("cpu"),
        CliOption.Precision,
        new("batch", "N", "sequences per forward pass (default 16; on CUDA sized to the card)"),
        new("repeats", "N", "timed repeats, the median is reported (default 3)"),
        CliOption.Switch("quick", "fewer and smaller timings"),
        CliOption.Switch("profile", "time every operation of the forward pass"),
    ];

    public int Run(Args args)
    {
        ArgumentNullException.ThrowIfNull(args);
        string backendName = args.GetChoice("backend", "cpu", "auto", "cpu", "cuda");
        var precision = BackendFactory.ParsePrecision(args.Get("precision", "fp32"));
        int? batchArg = args.Has("batch") ? args.GetInt("batch", 16, 1, 4096) : null;
        int batch = batchArg ?? 16;
        int repeats = args.GetInt("repeats", 3, 1, 1000);
        bool quick = args.Switch("quick");
        bool profile = args.Switch("profile");
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
        if (cuda is not null)
        {
            // On the GPU the yardstick is the card's own matrix rate in the same precision, measured now.
            sgemm = CudaBenchmarkParts.MatrixRateGflops(cuda, precision, quick, Console.Out);
            batch = batchArg ?? CudaBenchmarkParts.DefaultBatch(realBackend, ForwardBenchmark.Gpt2Small(), 128);
        }

        var cases = new List<(string Shape, Engine.Model.Gpt2Config Cfg, int B, int T, int K)>
        {
            ("tiny (2L, 64 wide, V=1000)", ForwardBenchmark.Tiny, batch, 128, 127),
        };
        if (!quick)
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
            var r = CudaBenchmarkParts.Run(backend, cuda, cfg, shape, b, t, k, repeats, precision);
            string share = double.IsNaN(sgemm) ? "-" : (r.GflopPerSecond / sgemm).ToString("P0", CultureInfo.InvariantCulture);
            Console.WriteLine($"{shape,-36} {b,4} {t,4} {k,4} {r.SecondsPerBatch,9:F3} {r.TokensPerSecond,10:F0} {r.GflopPerSecond,8:F1} {share,9}");
            if (profile && cuda is not null) CudaBenchmarkParts.PrintKernelTable(cuda, cfg, b, t, k, Console.Out);
            else if (profile) PrintProfile(timing);
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
