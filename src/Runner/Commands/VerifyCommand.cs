using System.Globalization;
using LearningCurves.Engine;
using LearningCurves.Engine.Backends;
using LearningCurves.Kernels;
using LearningCurves.Runner.Cli;
using LearningCurves.Formats;

namespace LearningCurves.Runner.Commands;

/// <summary>`learning-curves verify`: the CUDA backend against the CPU backend (and the float64 references of the
/// parity fixtures) per precision mode, with mean and max surprisal errors. Exit 0 when every comparison is within
/// its limit, 1 when one is not.</summary>
public sealed class VerifyCommand : ICommand
{
    public string Name => "verify";

    public string Usage => "verify [--backend cuda|cpu|auto] [--precision fp32|tf32|bf16|all] [--fixtures DIR] [--seed N] [--quick]";

    public IReadOnlyList<CliOption> Options { get; } =
    [
        new("backend", "cuda|cpu|auto", "the backend checked against the CPU reference (default cuda)"),
        new("precision", "fp32|tf32|bf16|all", "precisions to check (default all)"),
        new("fixtures", "DIR", "parity fixtures folder (default: the ones beside the app)"),
        new("seed", "N", "seed of the random models (default: fresh each run, printed)"),
        CliOption.Switch("quick", "smaller models and fewer cases"),
    ];

    public int Run(string[] args)
    {
        var a = Args.Parse(Name, Options, args);
        string backend = BackendChoice.Backend(a, "cuda", BackendChoice.BackendsCudaFirst);
        var precisions = BackendChoice.PrecisionsOrAll(a, "all");
        string? fixtures = a.Get("fixtures");
        int seed = a.GetInt("seed", Environment.TickCount & 0x7fffffff, 0);
        bool quick = a.Switch("quick");
        a.RejectUnknown();

        // Only the folder given: the published app does not know where a checkout keeps tests/fixtures/parity.
        string? fixtureDir = fixtures;
        if (fixtures is not null && !Directory.Exists(fixtures)) throw UserError.InFile(fixtures, "no such fixtures folder");

        var cases = Verification.RandomCases(seed, quick).ToList();
        var skipped = new List<string>();
        if (fixtureDir is not null) cases.AddRange(ParityFixtures.Load(fixtureDir, skipped));
        foreach (var s in skipped) Console.WriteLine($"verify: fixture skipped: {s}");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"verify: seed {seed}; {cases.Count} cases; fixtures: {fixtureDir ?? "none (pass --fixtures DIR, e.g. tests/fixtures/parity)"}"));

        var rows = new List<VerifyRow>();
        foreach (var p in precisions)
        {
            using var test = BackendFactory.Create(backend, p, Console.Out);
            using var cpu = new CpuBackend(p == Precision.Bf16 ? Precision.Bf16 : Precision.Fp32);
            Console.WriteLine(VerifyRow.Header);
            foreach (var c in cases)
            {
                foreach (var row in Verification.Run(c, p, test, cpu, Configure))
                {
                    Console.WriteLine(row.Format());
                    rows.Add(row);
                }
            }
        }
        int failed = rows.Count(r => !r.Passed);
        foreach (var g in rows.GroupBy(r => (r.Precision, r.Against)))
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"summary {g.Key.Precision,-5} vs {g.Key.Against,-8}: max |err| {g.Max(r => r.Stats.MaxAbs):0.00E+00} bits, mean |err| {g.Average(r => r.Stats.MeanAbs):0.00E+00} bits over {g.Sum(r => r.Stats.Count)} values (limit {LimitText(g.Min(r => r.Limit), g.Max(r => r.Limit))})"));
        }
        Console.WriteLine(failed == 0 ? $"verify: all {rows.Count} comparisons within limits" : $"verify: {failed} of {rows.Count} comparisons FAILED");
        return failed == 0 ? 0 : 1;
    }

    /// <summary>One limit, or the range of the per-case limits (bf16: each case's own, from its bf16 rounding).</summary>
    private static string LimitText(double lo, double hi) => lo == hi
        ? lo.ToString("0.0E+00", CultureInfo.InvariantCulture)
        : string.Create(CultureInfo.InvariantCulture, $"{lo:0.0E+00}..{hi:0.0E+00} per case");

    private static void Configure(IBackend backend, VerifyCase c)
    {
        if (backend is not CudaBackend cuda) return;
        cuda.UseCublasAttention = c.CublasAttention;
        cuda.HeadChunkBytes = c.HeadChunkBytes ?? CudaBackend.DefaultHeadChunkBytes;
    }
}
