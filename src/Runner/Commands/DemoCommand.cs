using System.Diagnostics;
using System.Globalization;
using LearningCurves.Analysis.Report;
using LearningCurves.Engine;
using LearningCurves.Runner.Cli;
using LearningCurves.Training;
using LearningCurves.Training.Corpus;
using LearningCurves.Training.Demo;
using LearningCurves.Formats.IO;
using LearningCurves.Formats;

namespace LearningCurves.Runner.Commands;

/// <summary>
/// `learning-curves demo`: corpus -> pre-training suite -> eval set -> sweep -> metrics -> analysis report, each stage
/// run through its own command and skipped when its inputs are unchanged (<see cref="StageCache"/>).
/// </summary>
public sealed class DemoCommand : ICommand
{
    public string Name => "demo";

    public string Usage => "demo --out DIR [--config demo] [--seeds 0,1,2] [--steps 400] [--checkpoints 24] [--batch 16] [--lr 1e-2] [--warmup 20] " +
                           "[--sequences 200] [--source DIR] [--tokenizer DIR]";

    public IReadOnlyList<CliOption> Options { get; } =
    [
        new("out", "DIR", "the demo's output folder; every stage is cached there (required)"),
        new("config", "NAME|FILE", "model configuration of the suite (default demo)"),
        new("seeds", "LIST", "comma-separated pre-training seeds, one run each (default 0,1,2)"),
        new("steps", "N", "training steps per run (default 400)"),
        new("checkpoints", "K", "checkpoints saved per run (default 24)"),
        new("batch", "N", "training batch in sequences (default 16)"),
        new("lr", "X", "peak learning rate (default 1e-2)"),
        new("warmup", "N", "warm-up steps (default 20)"),
        new("sequences", "N", "eval-set sequences (default 200)"),
        SharedOptions.SotuSource,
        SharedOptions.Gpt2Tokenizer,
    ];

    public int Run(string[] args)
    {
        var a = Args.Parse(Name, Options, args);
        string outDir = Path.GetFullPath(a.Require("out"));
        string config = a.Get("config", "demo");
        string seedsText = a.Get("seeds", "0,1,2");
        var seeds = PretrainCommand.ParseSeeds(seedsText);
        int steps = a.GetInt("steps", 400, 1);
        int checkpoints = a.GetInt("checkpoints", 24, 1);
        int batch = a.GetInt("batch", 16, 1, 4096);
        string lr = a.Get("lr", "1e-2");
        int warmup = a.GetInt("warmup", 20, 0);
        int sequences = a.GetInt("sequences", 200, 1);
        string source = Path.GetFullPath(a.Get("source") ?? DataCache.SotuData);
        string tokenizer = Path.GetFullPath(SharedOptions.ReadGpt2Tokenizer(a));
        a.RejectUnknown();
        var cfg = ModelPresets.Resolve(config);
        int ctx = cfg.MaxPositions;

        if (!Directory.Exists(source))
            throw UserError.InFile(source, "the demo corpus is not installed (run: dotnet pwsh ./build.ps1 setup)");
        var tok = PretrainCommand.LoadTokenizer(tokenizer);
        Directory.CreateDirectory(outDir);
        var cache = new StageCache(outDir);
        var total = Stopwatch.StartNew();
        var timings = new List<(string Stage, string What, double Seconds)>();
        string version = EngineInfo.Version;

        string corpusDir = Path.Combine(outDir, "corpus");
        string corpusKey = StageCache.Key(["corpus", version, "10"], Directory.GetFiles(source, "*.txt").Order(StringComparer.Ordinal));
        Stage("corpus", corpusKey, corpusDir, ["corpus", "--source", source, "--heldout-every", "10", "--out", corpusDir]);

        string suiteDir = Path.Combine(outDir, "suite");
        string[] pretrainArgs = ["pretrain", "--corpus", corpusDir, "--config", config, "--seeds", seedsText, "--steps", Str(steps),
            "--schedule", "exponential", "--checkpoints", Str(checkpoints), "--batch", Str(batch), "--lr", lr, "--warmup", Str(warmup), "--tokenizer", tokenizer];
        string suiteKey = StageCache.Key([version, corpusKey, .. pretrainArgs]);
        // pretrain skips runs that are complete with the same settings, so its folder is kept between attempts.
        Stage("suite", suiteKey, suiteDir, [.. pretrainArgs, "--out", suiteDir], clear: false);

        string evalDir = Path.Combine(outDir, "eval");
        string[] evalArgs = ["eval-set", "--text", Path.Combine(corpusDir, CorpusBuilder.HeldOutFile), "--tokenizer", tokenizer,
            "--seq-len", Str(ctx), "--per-sequence", "10", "--sequences", Str(sequences), "--seed", "0", "--packing", "lines"];
        string evalKey = StageCache.Key([version, corpusKey, .. evalArgs]);
        Stage("eval", evalKey, evalDir, [.. evalArgs, "--out", evalDir]);

        string sweepDir = Path.Combine(outDir, "sweep");
        var runNames = seeds.Select(s => $"run-{s}").ToArray();
        string[] sweepArgs = ["sweep", .. runNames.SelectMany(r => new[] { "--run", $"{r}={Path.Combine(suiteDir, r)}" }),
            "--eval", evalDir, "--backend", "cpu"];
        string sweepKey = StageCache.Key([version, suiteKey, evalKey, .. sweepArgs]);
        Stage("sweep", sweepKey, sweepDir, [.. sweepArgs, "--out", sweepDir]);

        string metricsDir = Path.Combine(outDir, "metrics");
        // The paper's late-training statistics use the last 11 checkpoints; fewer when the suite has fewer.
        string last = Str(Math.Min(11, checkpoints + 1));
        string metricsKey = StageCache.Key([version, sweepKey, "metrics", last]);
        Stage("metrics", metricsKey, metricsDir, ["metrics", "--sweep", sweepDir, "--last", last, "--out", metricsDir]);

        string reportDir = Path.Combine(outDir, "report");
        string? reportHtml = null;
        if (Program.Commands.ContainsKey("analyze"))
        {
            string[] analyzeArgs = ["analyze", "--sweep", sweepDir, "--train-text", Path.Combine(corpusDir, CorpusBuilder.TrainFile),
                "--eval-set", evalDir, "--tokenizer", tokenizer, "--last", last, "--backend", "cpu"];
            string reportKey = StageCache.Key([version, sweepKey, corpusKey, .. analyzeArgs]);
            Stage("report", reportKey, reportDir, [.. analyzeArgs, "--out", reportDir]);
            reportHtml = Path.Combine(reportDir, "report.html");
        }
        else
        {
            Console.WriteLine("demo: [report] skipped: this build has no `analyze` command yet");
        }

        string summaryFile = Path.Combine(outDir, "summary.txt");
        string summaryKey = StageCache.Key([version, sweepKey, suiteKey, "summary v1"]);
        var sw = Stopwatch.StartNew();
        if (!cache.IsFresh("summary", summaryKey, summaryFile))
        {
            cache.Invalidate("summary");
            var text = DemoSummary.Build(Path.Combine(suiteDir, Pretrainer.TrainTokensFile), evalDir, sweepDir, runNames, cfg.VocabSize, tok.EndOfTextId);
            AtomicFile.WriteAllText(summaryFile, text);
            cache.MarkDone("summary", summaryKey);
            timings.Add(("summary", "ran", sw.Elapsed.TotalSeconds));
        }
        else
        {
            timings.Add(("summary", "cached", 0));
        }

        Console.WriteLine();
        Console.WriteLine($"demo: {config} ({cfg.Layers} layers, {cfg.Embd} wide, {cfg.Heads} heads, context {ctx}), seeds {seedsText}, " +
                          $"{steps} steps x {batch} x {ctx} tokens, {checkpoints + 1} checkpoints per run");
        foreach (var (stage, what, secs) in timings)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {stage,-8} {what,-7} {secs,7:F1} s"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {"total",-8} {"",-7} {total.Elapsed.TotalSeconds,7:F1} s"));
        Console.WriteLine();
        Console.Write(File.ReadAllText(summaryFile));
        Console.WriteLine();
        Console.WriteLine(reportHtml is not null && File.Exists(reportHtml) ? $"report: {reportHtml}" : $"report: not built; curves in {sweepDir}, metrics in {metricsDir}");
        return 0;

        void Stage(string name, string key, string output, string[] command, bool clear = true)
        {
            var watch = Stopwatch.StartNew();
            if (cache.IsFresh(name, key, output))
            {
                Console.WriteLine($"demo: [{name}] up to date");
                timings.Add((name, "cached", 0));
                return;
            }
            cache.Invalidate(name);
            if (clear && Directory.Exists(output)) Directory.Delete(output, recursive: true);
            Console.WriteLine($"demo: [{name}] learning-curves {string.Join(' ', command)}");
            int code = Program.Commands[command[0]].Run(command[1..]);
            if (code != 0) throw new UserError($"demo: stage {name} failed (exit code {code}); rerun `demo` to resume", code);
            cache.MarkDone(name, key);
            timings.Add((name, "ran", watch.Elapsed.TotalSeconds));
        }
    }

    private static string Str(int v) => v.ToString(CultureInfo.InvariantCulture);
}
