using System.Diagnostics;
using System.Globalization;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.EvalSets;
using LearningCurves.Engine.Model;
using LearningCurves.Engine.Sweeps;
using LearningCurves.Kernels;
using LearningCurves.Runner.Cli;
using LearningCurves.Formats.EvalSets;

namespace LearningCurves.Runner.Benchmarks;

/// <summary>
/// `bench sweep`: the cost of the sweep machinery. The same checkpoints are scored on the same eval set twice: by a
/// plain loop (load, score, next) and by the sweep (curve file, fsync per row, manifest, load overlapped with scoring).
/// Alternated and repeated; the best of each is reported.
/// </summary>
public sealed class SweepBenchmark : IBenchmark
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public string Name => "sweep";

    public string Description => "sweep vs a plain load-and-score loop: overhead and load overlap [--backend --checkpoints --sequences --repeats --quick]";

    public IReadOnlyList<CliOption> Options { get; } =
    [
        .. BackendChoice.Options("cpu"),
        CliOption.Switch("quick", "3 checkpoints, 16 sequences, 1 repeat"),
        new("checkpoints", "K", "checkpoints of the timed run (default 6)"),
        new("sequences", "N", "eval sequences (default 64)"),
        new("repeats", "N", "timed repeats (default 2)"),
    ];

    public int Run(Args args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var (backendName, precision) = BackendChoice.Read(args, "cpu");
        bool quick = args.Switch("quick");
        int checkpoints = args.GetInt("checkpoints", quick ? 3 : 6, 1, 1000);
        int sequences = args.GetInt("sequences", quick ? 16 : 64, 1, 1 << 20);
        int repeats = args.GetInt("repeats", quick ? 1 : 2, 1, 100);
        args.RejectUnknown(maxPositional: 1);

        // A small GPT-2 with the real vocabulary: the head and the weights' size on disk are realistic.
        var cfg = quick
            ? new ModelConfig { VocabSize = 50257, MaxPositions = 128, Embd = 64, Layers = 2, Heads = 2 }
            : new ModelConfig { VocabSize = 50257, MaxPositions = 128, Embd = 256, Layers = 4, Heads = 4 };
        string root = Path.Combine(Path.GetTempPath(), $"lc-bench-sweep-{Environment.ProcessId}");
        try
        {
            using var backend = BackendFactory.Create(backendName, precision, Console.Out);
            Console.WriteLine($"device: {backend.DeviceName}");
            Console.WriteLine($"date: {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, precision {BackendFactory.Describe(precision)}");
            string run = Path.Combine(root, "run");
            for (int i = 0; i < checkpoints; i++) HfCheckpoint.Save(Path.Combine(run, $"checkpoint-{(i + 1) * 1000}"), ModelWeights.Random(cfg, 10 + i));
            var eval = MakeEvalSet(Path.Combine(root, "eval"), sequences);
            var reader = new HfCheckpointReader();
            long bytes = CheckpointSeries.Discover(run).Sum(c => reader.BytesOnDisk(c.Path));
            Console.WriteLine(string.Create(Inv, $"model: {cfg.Layers} layers, {cfg.Embd} wide, vocab {cfg.VocabSize}; {checkpoints} checkpoints, {bytes / 1e6:F0} MB on disk; eval set {eval.SequenceCount} x {eval.SeqLen} tokens, {eval.Examples} examples"));

            // Warm-up (JIT, BLAS threads, page cache) so neither side pays it.
            Loop(backend, reader, run, eval);
            double bestLoop = double.MaxValue, bestSweep = double.MaxValue, loopLoad = 0, loopScore = 0;
            SweepSummary? best = null;
            for (int rep = 0; rep < repeats; rep++)
            {
                // Alternate which goes first, so drift in the machine's load favours neither.
                SweepSummary Sweep() => new SweepDriver(backend, reader, new SweepReporter(TextWriter.Null, ProgressMode.Lines))
                    .Run(new SweepOptions { OutDir = Path.Combine(root, $"out{rep}"), EvalSet = eval, Runs = [new SweepRunSpec("run", run)] });
                SweepSummary? first = rep % 2 == 1 ? Sweep() : null;
                var (loopWall, load, score) = Loop(backend, reader, run, eval);
                if (loopWall < bestLoop) (bestLoop, loopLoad, loopScore) = (loopWall, load, score);
                var summary = first ?? Sweep();
                if (summary.Failed > 0) throw new InvalidOperationException("benchmark checkpoints failed");
                if (summary.WallSeconds < bestSweep) (bestSweep, best) = (summary.WallSeconds, summary);
                Console.WriteLine(string.Create(Inv, $"  repeat {rep + 1}: loop {loopWall:F2} s, sweep {summary.WallSeconds:F2} s"));
            }
            var s = best!;
            double overhead = bestSweep / bestLoop - 1;
            double hidden = s.LoadSeconds > 0 ? 1 - s.LoadWaitSeconds / s.LoadSeconds : 0;
            Console.WriteLine();
            Console.WriteLine(string.Create(Inv, $"plain loop:  {bestLoop:F2} s (load {loopLoad:F2} s + score {loopScore:F2} s, in sequence)"));
            Console.WriteLine(string.Create(Inv, $"sweep:       {bestSweep:F2} s (load {s.LoadSeconds:F2} s of which {s.LoadWaitSeconds:F2} s not overlapped, score {s.ScoreSeconds:F2} s, write+fsync+manifest {s.WriteSeconds:F2} s)"));
            Console.WriteLine(string.Create(Inv, $"sweep vs loop: {overhead:+0.0%;-0.0%} (target: at most +5%); load hidden behind scoring: {hidden:P0}; {s.TokensPerSecond:N0} tokens/s; {s.BytesRead / 1e6:F0} MB read"));
            return 0;
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>The baseline: each checkpoint loaded as the sweep loads it (float32 weights on the CPU; on a GPU opened
    /// and hashed, then streamed into the model), then scored, one after the other; results discarded.</summary>
    private static (double Wall, double Load, double Score) Loop(Engine.Backends.IBackend backend, HfCheckpointReader reader, string run, EvalSet eval)
    {
        var scorer = new EvalScorer(eval, 16);
        var row = new float[eval.Examples];
        double load = 0, score = 0;
        var wall = Stopwatch.StartNew();
        foreach (var cp in CheckpointSeries.Discover(run))
        {
            var sw = Stopwatch.StartNew();
            if (backend.Name == "cpu")
            {
                var w = reader.Load(cp.Path);
                load += sw.Elapsed.TotalSeconds;
                sw.Restart();
                using (var model = new DecoderModel(backend, w)) scorer.Score(model, row);
            }
            else
            {
                using var ck = reader.Open(cp.Path);
                _ = ck.ContentHash();
                load += sw.Elapsed.TotalSeconds;
                sw.Restart();
                using (var model = new DecoderModel(backend, ck)) scorer.Score(model, row);
            }
            score += sw.Elapsed.TotalSeconds;
        }
        return (wall.Elapsed.TotalSeconds, load, score);
    }

    private static EvalSet MakeEvalSet(string dir, int sequences)
    {
        var rng = new SplitMix64(7);
        var tokens = new int[sequences * 128];
        for (int i = 0; i < tokens.Length; i++) tokens[i] = (int)rng.NextBelow(50257);
        var set = new EvalSet(tokens, sequences, 128, EvalSetBuilder.DrawTargets(sequences, 128, 10, 7), 50257);
        set.Save(dir, new System.Text.Json.Nodes.JsonObject { ["tokenizer"] = "random ids (benchmark)" });
        return EvalSet.Load(dir);
    }
}
