using System.Diagnostics;
using System.Globalization;
using LearningCurves.Analysis.NGrams;
using LearningCurves.Analysis.Statistics;
using LearningCurves.Runner.Cli;
using LearningCurves.Formats.IO;

namespace LearningCurves.Runner.Benchmarks;

/// <summary>
/// `bench ngrams`: n-gram counting throughput (tokens/s on one core) and memory per n-gram, on a synthetic Zipfian
/// corpus (or token ids from an .npy file), plus the regression analysis on a predictor-shaped table.
/// </summary>
public sealed class NGramBenchmark : IBenchmark
{
    public string Name => "ngrams";

    public string Description => "n-gram counting tokens/s, bytes per n-gram; regression and learning-phase times (--tokens N --vocab V --seq-len L --ids FILE.npy --prune yes --rows N --phase-examples N)";

    public IReadOnlyList<CliOption> Options { get; } =
    [
        CliOption.Switch("quick", "2M tokens, 100000 rows, 20000 phase examples"),
        new("tokens", "N", "synthetic Zipf tokens to count (default 20000000)"),
        new("vocab", "V", "vocabulary of the synthetic tokens (default 50257)"),
        new("seq-len", "L", "tokens per training sequence (default 1024)"),
        new("ids", "FILE.npy", "count a real corpus (int32 ids) instead of synthetic tokens"),
        new("prune", "yes|no", "prune rare n-grams as the paper does (default no)"),
        new("rows", "N", "rows of the timed regression (default 1000000)"),
        new("phase-examples", "N", "examples of the timed learning-phase fit (default 100000)"),
        new("phase-checkpoints", "K", "checkpoints of the learning-phase fit (default 222)"),
        new("phase-runs", "R", "runs of the learning-phase fit (default 5)"),
    ];

    public int Run(Args args)
    {
        ArgumentNullException.ThrowIfNull(args);
        bool quick = args.Switch("quick");
        long tokens = args.GetInt("tokens", quick ? 2_000_000 : 20_000_000, 1000);
        int vocab = args.GetInt("vocab", 50257, 2);
        int seqLen = args.GetInt("seq-len", 1024, 1);
        string? ids = args.Get("ids");
        // A value, not a switch: the bench command parses the line before this benchmark sees it.
        bool prune = args.GetChoice("prune", "no", "no", "yes") == "yes";
        int rows = args.GetInt("rows", quick ? 100_000 : 1_000_000, 10);
        int phaseExamples = args.GetInt("phase-examples", quick ? 20_000 : 100_000, 10);
        int phaseCheckpoints = args.GetInt("phase-checkpoints", 222, 1);
        int phaseRuns = args.GetInt("phase-runs", 5, 1);
        args.RejectUnknown(maxPositional: 1);

        int[] corpus;
        string source;
        if (ids is not null)
        {
            var (data, _) = Npy.ReadInt32(ids);
            corpus = data;
            vocab = Math.Max(vocab, data.Length == 0 ? 1 : data.Max() + 1);
            source = $"{ids} ({corpus.Length:N0} tokens)";
        }
        else
        {
            corpus = Zipf(tokens, vocab, 1.1, seed: 1);
            source = $"synthetic Zipf(1.1) over {vocab:N0} ids, {corpus.Length:N0} tokens";
        }
        Console.WriteLine($"n-gram counting: {source}, sequences of {seqLen}, order 5, prune {(prune ? "on" : "off")}, 1 thread");
        // The machine may be shared: CPU seconds of this process (single-threaded phases) are the per-core figure.
        // Counting ends with a queryable model: tokens are buffered and counted in batches, the last one in Build. Twice:
        // the first run's figure includes faulting in fresh memory, which on a VM can cost as much as the counting;
        // the second reuses pages the process just released.
        NGramModel model = null!;
        foreach (var pass in new[] { "cold (fresh memory)", "warm (memory touched before)" })
        {
            model?.Dispose();
            var clock = new CpuClock();
            var counter = new NGramCounter(vocab, new NGramOptions(Prune: prune));
            for (int i = 0; i < corpus.Length; i += seqLen) counter.Add(corpus.AsSpan(i, Math.Min(seqLen, corpus.Length - i)));
            model = counter.Build();
            double countS = clock.WallSeconds, countCpu = clock.CpuSeconds;
            Console.WriteLine($"  counting, {pass}: {countCpu:F2} CPU s = {corpus.Length / countCpu / 1e6:F2} M tokens per CPU second (wall {countS:F2} s = {corpus.Length / countS / 1e6:F2} M tokens/s)");
        }
        Console.WriteLine($"  peak working set of the process: {Process.GetCurrentProcess().PeakWorkingSet64 / 1e6:F0} MB");
        long distinct = Enumerable.Range(2, 4).Sum(n => model.Distinct(n));
        Console.WriteLine($"  distinct n-grams n=2..5: {string.Join(" / ", Enumerable.Range(2, 4).Select(n => model.Distinct(n).ToString("N0", CultureInfo.InvariantCulture)))}");
        Console.WriteLine($"  memory: {model.Bytes / 1e6:F0} MB = {(double)model.Bytes / distinct:F1} bytes per distinct n-gram (n >= 2)");

        var scoring = new CpuClock();
        var rng = new Random(2);
        Span<double> s = stackalloc double[5];
        double sink = 0;
        int queries = Math.Min(1_000_000, corpus.Length - 8);
        for (int q = 0; q < queries; q++)
        {
            int pos = rng.Next(4, Math.Min(seqLen, corpus.Length - 1));
            int start = (rng.Next(corpus.Length - seqLen) / seqLen) * seqLen;
            if (start + pos >= corpus.Length) continue;
            model.Surprisals(corpus.AsSpan(start, pos), corpus[start + pos], s);
            sink += s[4];
        }
        Console.WriteLine($"  scoring: {queries / scoring.CpuSeconds / 1e6:F2} M examples per CPU second (wall {queries / scoring.WallSeconds / 1e6:F2} M/s; 5 backoff surprisals each; checksum {sink:E3})");

        // The regression analysis on a table shaped like the paper's (5 predictors, 5 targets).
        var cols = new Dictionary<string, double[]>(StringComparer.Ordinal);
        string[] predictors = ["unigram", "ngram", "context_loglen", "context_logprob", "contextual_div"];
        string[] targets = ["surprisal", "variability", "aoa", "forgettability", "within_run"];
        foreach (var p in predictors) cols[p] = Enumerable.Range(0, rows).Select(_ => Gauss(rng)).ToArray();
        foreach (var t in targets) cols[t] = Enumerable.Range(0, rows).Select(i => predictors.Sum(p => cols[p][i] * 0.3) + Gauss(rng)).ToArray();
        var ols = new CpuClock();
        var report = RegressionAnalysis.Run(cols, targets, predictors);
        Console.WriteLine($"regression analysis: {rows:N0} rows x 5 targets x 5 predictors ({report.Targets.Count * 15 + 5} OLS fits): {ols.CpuSeconds:F2} CPU s (wall {ols.WallSeconds:F2} s)");

        // Learning phases: runs x checkpoints x examples float surprisals against 5 n-gram orders.
        var ng = Enumerable.Range(0, 5).Select(_ => Enumerable.Range(0, phaseExamples).Select(_ => 8 + 3 * Gauss(rng)).ToArray()).ToArray();
        var curves = Enumerable.Range(0, phaseRuns).Select(_ => (IReadOnlyList<float[]>)Enumerable.Range(0, phaseCheckpoints)
            .Select(_ => Enumerable.Range(0, phaseExamples).Select(_ => (float)(10 + Gauss(rng))).ToArray()).ToArray()).ToArray();
        var stepsList = Enumerable.Range(0, phaseCheckpoints).Select(i => (long)i * 100).ToArray();
        var phases = new CpuClock();
        var ph = LearningCurves.Analysis.Phases.LearningPhaseAnalysis.Compute(curves, ng, stepsList);
        double phCpu = phases.CpuSeconds, phWall = phases.WallSeconds;
        long values = (long)phaseRuns * phaseCheckpoints * phaseExamples;
        Console.WriteLine($"learning phases: {phaseRuns} runs x {phaseCheckpoints} checkpoints x {phaseExamples:N0} examples: {phCpu:F2} CPU s, wall {phWall:F2} s on {Environment.ProcessorCount} threads"
            + $" = {values / phCpu / 1e6:F0} M values per CPU second (peak of n=1 at step {ph.PeakStep[0]})");
        return 0;
    }

    private static double Gauss(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    // Independent Zipf(s) draws by inverse CDF: a worst case for n-gram memory (few repeats beyond bigrams).
    private static int[] Zipf(long count, int vocab, double s, int seed)
    {
        var cdf = ZipfCdf(vocab, s);
        var rng = new Random(seed);
        var data = new int[count];
        for (long i = 0; i < count; i++) data[i] = ZipfDraw(cdf, rng);
        return data;
    }

    /// <summary>Cumulative Zipf(s) probabilities of ids 0..vocab-1 (id i has weight (i + 1)^-s).</summary>
    internal static double[] ZipfCdf(int vocab, double s)
    {
        var cdf = new double[vocab];
        double acc = 0;
        for (int i = 0; i < vocab; i++) cdf[i] = acc += Math.Pow(i + 1, -s);
        for (int i = 0; i < vocab; i++) cdf[i] /= acc;
        return cdf;
    }

    /// <summary>One id drawn from a <see cref="ZipfCdf"/> by inverse CDF.</summary>
    internal static int ZipfDraw(double[] cdf, Random rng)
    {
        int k = Array.BinarySearch(cdf, rng.NextDouble());
        return Math.Min(k < 0 ? ~k : k, cdf.Length - 1);
    }
}
