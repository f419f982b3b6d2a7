using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using LearningCurves.Engine.EvalSets;
using LearningCurves.Runner.Cli;
using LearningCurves.Runner.Commands;
using LearningCurves.Formats.IO;
using LearningCurves.Formats.EvalSets;

namespace LearningCurves.Runner.Benchmarks;

/// <summary>
/// `bench analyze`: the whole `analyze --no-generate` path (metrics, predictors with n-gram counting, the table,
/// regressions, learning phases, plots and report) on a synthetic suite in the sweep's layout at the paper's size by
/// default: 1,000,000 examples x 5 runs x 222 checkpoints, with a 20M-token training corpus over a GPT-2-sized
/// vocabulary. The analysis log (stage times) is printed as it goes; the total, CPU time and peak RSS at the end.
/// </summary>
public sealed class AnalyzeBenchmark : IBenchmark
{
    public string Name => "analyze";

    public string Description => "the analysis end to end without generation on a synthetic suite: --examples N (1000000; 20000 with --quick) --runs R (5) --checkpoints K (222) --train-tokens N (20000000) [--dir DIR: keep the files there]";

    public IReadOnlyList<CliOption> Options { get; } =
    [
        CliOption.Switch("quick", "a small suite: 20000 examples, 2M training tokens"),
        SyntheticSuite.Examples,
        SyntheticSuite.Runs,
        SyntheticSuite.Checkpoints,
        new("train-tokens", "N", "synthetic training tokens (default 20000000)"),
        new("dir", "DIR", "keep the synthetic suite and the analysis there (default: a temporary folder)"),
    ];

    public int Run(Args args)
    {
        ArgumentNullException.ThrowIfNull(args);
        bool quick = args.Switch("quick");
        int examples = SyntheticSuite.ReadExamples(args, quick, min: 10);
        int runs = SyntheticSuite.ReadRuns(args);
        int checkpoints = SyntheticSuite.ReadCheckpoints(args);
        int trainTokens = args.GetInt("train-tokens", quick ? 2_000_000 : 20_000_000, 1000);
        string? dirArg = args.Get("dir");
        args.RejectUnknown(maxPositional: 1);

        const int Vocab = 50257, SeqLen = 128, TargetsPerSequence = 10;
        using var folder = new BenchFolder(dirArg, Name);
        string dir = folder.Path;
        var gen = Stopwatch.StartNew();
        var text = new TokenStream(Vocab, seed: 7);
        // Eval set: sequences of 128 tokens with 10 distinct target positions each.
        int sequences = (examples + TargetsPerSequence - 1) / TargetsPerSequence;
        var tokens = text.Next(checked(sequences * SeqLen));
        var targets = new int[2 * examples];
        var rng = new Random(11);
        for (int e = 0; e < examples; e++)
        {
            int s = e / TargetsPerSequence, k = e % TargetsPerSequence;
            targets[2 * e] = s;
            // Distinct positions per sequence: k-th of 10 evenly spaced slots, jittered inside its slot.
            targets[2 * e + 1] = 1 + k * ((SeqLen - 1) / TargetsPerSequence) + rng.Next((SeqLen - 1) / TargetsPerSequence);
        }
        string evalDir = Path.Combine(dir, "eval");
        new EvalSet(tokens, sequences, SeqLen, targets, Vocab).Save(evalDir, new JsonObject { ["source"] = "bench analyze (synthetic)" });
        string trainPath = Path.Combine(dir, "train-ids.npy");
        Npy.Write<int>(trainPath, text.Next(trainTokens / SeqLen * SeqLen), trainTokens / SeqLen, SeqLen);

        var steps = SyntheticSuite.Steps(checkpoints);
        string sweep = Path.Combine(dir, "sweep");
        for (int r = 0; r < runs; r++)
        {
            string runDir = Path.Combine(sweep, $"seed{r}");
            Directory.CreateDirectory(runDir);
            SyntheticSuite.WriteCurves(Path.Combine(runDir, "surprisal.npy"), steps, examples, seed: 1234 + r);
            Npy.Write<long>(Path.Combine(runDir, "steps.npy"), steps);
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"bench analyze: wrote {runs} runs x float32 [{checkpoints}, {examples}], an eval set of {sequences} x {SeqLen} tokens and {trainTokens / SeqLen * SeqLen} training tokens to {dir} in {gen.Elapsed.TotalSeconds:F1} s"));

        var clock = new CpuClock();
        int rc = new AnalyzeCommand().Run(["--sweep", sweep, "--eval-set", evalDir, "--train-ids", trainPath, "--out", Path.Combine(dir, "out"), "--no-generate"]);
        var wall = clock.Wall;
        double cpu = clock.CpuSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"bench analyze: {examples} examples x {runs} runs x {checkpoints} checkpoints, {trainTokens / SeqLen * SeqLen} training tokens: {wall.TotalSeconds:F1} s wall "
            + $"({wall.TotalMinutes:F1} min), {cpu:F1} s CPU on {Environment.ProcessorCount} threads, peak RSS {CpuClock.PeakRssBytes() / 1e9:F2} GB"));
        return rc;
    }

    /// <summary>Zipf(1.1) unigrams over the vocabulary where 30% of tokens follow from the previous one (so higher-order n-grams repeat as in text).</summary>
    private sealed class TokenStream(int vocab, int seed)
    {
        private readonly Random _rng = new(seed);
        private readonly double[] _cdf = NGramBenchmark.ZipfCdf(vocab, 1.1);
        private int _previous;

        public int[] Next(int count)
        {
            var tokens = new int[count];
            for (int i = 0; i < count; i++)
            {
                int t = _rng.NextDouble() < 0.3 ? (int)((_previous * 7L + 3) % vocab) : NGramBenchmark.ZipfDraw(_cdf, _rng);
                tokens[i] = _previous = t;
            }
            return tokens;
        }
    }
}
