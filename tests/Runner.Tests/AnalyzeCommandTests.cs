using System.Text.Json;
using System.Text.Json.Nodes;
using LearningCurves.Analysis.Generation;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.EvalSets;
using LearningCurves.Engine.Generation;
using LearningCurves.Engine.Model;
using LearningCurves.Tests.Common;
using Xunit;
using LearningCurves.Formats.IO;
using LearningCurves.Formats.EvalSets;
using LearningCurves.Formats.Runs;

namespace LearningCurves.Runner.Tests;

/// <summary>
/// A small synthetic suite with the sweep's layout: an eval set, runs whose curves drop like real learning curves (earlier
/// for frequent tokens), steps on the paper's exponential schedule, manifests naming real (tiny, random) checkpoints,
/// and a training corpus of the same Zipfian token process.
/// </summary>
internal sealed record SyntheticSuite(string Sweep, string TrainIds, string EvalDir)
{
    public const int Vocab = 300;

    public static SyntheticSuite Build(string root, int seed, int runs = 3, int sequences = 60, int seqLen = 32, int checkpoints = 30)
    {
        var rng = new Random(seed);
        // Zipfian unigram with a sticky bigram: the next token often follows from the previous one.
        var weights = Enumerable.Range(1, Vocab).Select(r => 1.0 / r).ToArray();
        double total = weights.Sum();
        var cdf = new double[Vocab];
        double acc = 0;
        for (int i = 0; i < Vocab; i++) cdf[i] = acc += weights[i] / total;
        int Draw(int prev) => rng.NextDouble() < 0.3 ? (prev * 7 + 3) % Vocab : Math.Min(Vocab - 1, Array.BinarySearch(cdf, rng.NextDouble()) is var k && k < 0 ? ~k : k);
        int[] Sequence(int len)
        {
            var s = new int[len];
            s[0] = Draw(0);
            for (int i = 1; i < len; i++) s[i] = Draw(s[i - 1]);
            return s;
        }

        var train = Enumerable.Range(0, 400).Select(_ => Sequence(seqLen)).ToList();
        string trainIds = Path.Combine(root, "train.ids");
        File.WriteAllLines(trainIds, train.Select(s => string.Join(' ', s)));
        var counts = new long[Vocab];
        foreach (var s in train) foreach (int t in s) counts[t]++;

        var tokens = Enumerable.Range(0, sequences).SelectMany(_ => Sequence(seqLen)).ToArray();
        var targets = new List<int>();
        for (int s = 0; s < sequences; s++)
        {
            foreach (int p in new[] { 1 + rng.Next(seqLen - 1), 1 + rng.Next(seqLen - 1) }.Distinct())
            {
                targets.Add(s);
                targets.Add(p);
            }
        }
        string evalDir = Path.Combine(root, "eval");
        new EvalSet(tokens, sequences, seqLen, targets.ToArray(), Vocab).Save(evalDir, new JsonObject());
        int examples = targets.Count / 2;

        // Steps: 0, then exponential up to 100k.
        var steps = new long[checkpoints];
        for (int k = 1; k < checkpoints; k++) steps[k] = Math.Max(steps[k - 1] + 1, (long)Math.Round(Math.Pow(10, 1 + 4.0 * (k - 1) / (checkpoints - 2))));
        var picked = TrainingGeneration.NearestToPowersOfTen(steps);
        var cfg = new ModelConfig { VocabSize = Vocab, MaxPositions = 96, Embd = 16, Layers = 1, Heads = 2 };

        string sweep = Path.Combine(root, "sweep");
        double chance = Math.Log2(Vocab);
        for (int r = 0; r < runs; r++)
        {
            string runDir = Path.Combine(sweep, $"seed{r}");
            Directory.CreateDirectory(runDir);
            var curves = new float[checkpoints * examples];  // (K, E)
            for (int e = 0; e < examples; e++)
            {
                int t = tokens[targets[2 * e] * seqLen + targets[2 * e + 1]];
                double lf = Math.Log10(counts[t] + 1);
                double aoa = 3.8 - 0.6 * lf + rng.NextDouble() * 0.4;
                double final = Math.Max(1, 7 - 1.5 * lf + rng.NextDouble());
                for (int k = 0; k < checkpoints; k++)
                {
                    double x = steps[k] > 0 ? Math.Log10(steps[k]) : 0;
                    curves[k * examples + e] = (float)(final + (chance - final) / (1 + Math.Exp(5 * (x - aoa))) + (rng.NextDouble() - 0.5) * 0.8);
                }
            }
            Npy.Write<float>(Path.Combine(runDir, "surprisal.npy"), curves, checkpoints, examples);
            Npy.Write<long>(Path.Combine(runDir, "steps.npy"), steps, checkpoints);
            var rows = new JsonArray();
            for (int k = 0; k < checkpoints; k++)
            {
                string cp = Path.Combine(root, "checkpoints", $"seed{r}", $"step-{steps[k]}");
                if (picked.Contains(k) && r < 2)
                {
                    Directory.CreateDirectory(cp);
                    HfCheckpoint.Save(cp, ModelWeights.Random(cfg, 1000 * r + k));
                }
                rows.Add(new JsonObject { ["row"] = k, ["step"] = steps[k], ["path"] = cp, ["status"] = "done" });
            }
            var manifest = new JsonObject
            {
                ["format"] = "learning-curves-sweep/1",
                ["run"] = $"seed{r}",
                ["eval_set"] = new JsonObject { ["path"] = evalDir },
                ["rows"] = rows,
            };
            File.WriteAllText(Path.Combine(runDir, "manifest.json"), manifest.ToJsonString());
        }
        return new SyntheticSuite(sweep, trainIds, evalDir);
    }
}

[Collection(ConsoleTests.Name)]
public class AnalyzeCommandTests
{
    [Fact]
    public void Analyze_writes_every_output_from_real_numbers()
    {
        int seed = Random.Shared.Next();
        var root = TestPaths.TempDir();
        var suite = SyntheticSuite.Build(root, seed);
        var outDir = Path.Combine(root, "out");
        var r = Cli.Run("analyze", "--sweep", suite.Sweep, "--train-ids", suite.TrainIds, "--out", outDir,
            "--backend", "cpu", "--max-tokens", "24", "--gen-prompts", "3");
        Assert.True(r.Code == 0, $"seed {seed}: {r.Err}");
        foreach (var f in new[] { "examples.csv", "examples.parquet", "stats.json", "stats.md", "report.html", "metrics/per_run.csv" })
            Assert.True(File.Exists(Path.Combine(outDir, f)), $"{f} missing; log: {r.Err}");
        Assert.Empty(Directory.GetFiles(outDir, "*.tmp", SearchOption.AllDirectories));

        // The table: one row per example, run-averaged and per-run metrics, predictors.
        string csv = Path.Combine(outDir, "examples.csv");
        var header = File.ReadLines(csv).First().Split(',');
        foreach (var c in new[] { "example", "token", "aoa", "crossrun_var", "aoa.seed0", "aoa.seed2", "unigram", "ngram", "context_loglen", "context_logprob", "contextual_div", "ngram5_surprisal" })
            Assert.Contains(c, header);
        using var ev = JsonDocument.Parse(File.ReadAllText(Path.Combine(suite.EvalDir, "manifest.json")));
        // Read with a CSV parser: token_text may hold a quoted line break (byte-level tokens).
        var table = LearningCurves.Analysis.Statistics.NumericCsv.ReadColumns(csv, ["example", "aoa", "unigram"]);
        Assert.Equal(ev.RootElement.GetProperty("examples").GetInt32(), table["example"].Length);
        Assert.Equal(Enumerable.Range(0, table["example"].Length).Select(i => (double)i), table["example"]);

        // Stats: frequent tokens are learned earlier in this suite, so AoA falls with unigram log-probability.
        using var stats = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "stats.json")));
        var aoa = stats.RootElement.GetProperty("regression").GetProperty("targets").GetProperty("aoa");
        Assert.True(aoa.GetProperty("single").GetProperty("unigram").GetDouble() < 0, "AoA should fall with log frequency");
        var phases = stats.RootElement.GetProperty("learning_phases");
        Assert.Equal(5, phases.GetProperty("peak_step").GetArrayLength());
        var gen = stats.RootElement.GetProperty("generation");
        Assert.True(gen.GetArrayLength() >= 4, $"{gen.GetArrayLength()} generation rows");  // two runs with checkpoints

        // Annotations (docs/annotations.md): the UMAP embedding beside the metrics, POS tags in the table and the report.
        var (umap, umapShape) = LearningCurves.Formats.IO.Npy.ReadFloats(Path.Combine(outDir, "metrics", "umap.npy"));
        Assert.Equal(new long[] { table["example"].Length, 2 }, umapShape);
        Assert.All(umap, v => Assert.True(float.IsFinite(v)));
        var html = File.ReadAllText(Path.Combine(outDir, "report.html"));
        Assert.Contains("UMAP of the smoothed curves", html, StringComparison.Ordinal);
        // The README's commands fetch the tagger's data (build.ps1 setup and test); without it analyze says so.
        if (LearningCurves.Analysis.Pos.PosModel.Present(LearningCurves.Analysis.Pos.PosModel.DefaultDir))
        {
            Assert.Contains("pos", header);
            Assert.DoesNotContain("Not shown", html, StringComparison.Ordinal);
            Assert.Contains("Run-averaged means by the Universal POS tag", html, StringComparison.Ordinal);
        }
        else
        {
            Assert.DoesNotContain("pos", header);
            Assert.Contains("POS tags were not computed", html, StringComparison.Ordinal);
        }
        // The third run's chosen checkpoints were never written: said in the notes, not a failure.
        Assert.Contains("run seed2: ", html, StringComparison.Ordinal);
        var dump = Environment.GetEnvironmentVariable("LC_PLOT_DUMP");
        if (dump is not null) File.Copy(Path.Combine(outDir, "report.html"), Path.Combine(dump, "analyze-report.html"), overwrite: true);
    }

    [Fact]
    public void Generated_text_read_from_generations_jsonl_is_measured_as_before()
    {
        int seed = Random.Shared.Next();
        var root = TestPaths.TempDir();
        var suite = SyntheticSuite.Build(root, seed, runs: 3, sequences: 20, checkpoints: 12); // seed2 has no checkpoints
        string[] gen = ["--backend", "cpu", "--max-tokens", "16", "--gen-prompts", "3", "--seed", "5"];
        string Out(string n) => Path.Combine(root, n);

        // 1. analyze runs the generation stage itself: each run's generations.jsonl appears next to its curves.
        var first = Cli.Run(["analyze", "--sweep", suite.Sweep, "--train-ids", suite.TrainIds, "--out", Out("a"), .. gen]);
        Assert.True(first.Code == 0, $"seed {seed}: {first.Err}");
        var files = new[] { "seed0", "seed1" }.Select(r => Path.Combine(suite.Sweep, r, SweepFolder.GenerationsFile)).ToList();
        Assert.All(files, f => Assert.True(File.Exists(f), $"seed {seed}: {f} missing"));

        // The repetition measures in stats.json are TextRepetition's on the file's ids, averaged over the prompts
        // exactly as analyze did when it generated in-process.
        using (var stats = JsonDocument.Parse(File.ReadAllText(Path.Combine(Out("a"), "stats.json"))))
        {
            var rows = stats.RootElement.GetProperty("generation").EnumerateArray().ToList();
            var expected = files.SelectMany(f => GenerationsFile.Read(f).GroupBy(r => (r.Run, r.Step))).ToList();
            Assert.Equal(expected.Count, rows.Count);
            for (int i = 0; i < rows.Count; i++)
            {
                var mean = TextRepetition.Mean(expected[i].Select(r => TextRepetition.Measure(r.Ids)).ToList());
                Assert.Equal(expected[i].Key.Run, rows[i].GetProperty("run").GetString());
                Assert.Equal(expected[i].Key.Step, rows[i].GetProperty("step").GetInt64());
                Assert.Equal(3, rows[i].GetProperty("prompts").GetInt32());
                Assert.Equal(mean.RepeatedShare.Select(Json), rows[i].GetProperty("repeated_share").EnumerateArray().Select(Read));
                Assert.Equal(mean.DistinctN.Select(Json), rows[i].GetProperty("distinct_n").EnumerateArray().Select(Read));
                Assert.Equal(Json(mean.LongestRepeatedSpan), Read(rows[i].GetProperty("longest_repeated_span")));
            }
        }

        // 2. The same files from the separate `generate-along` command: analyze keeps them and writes the same bytes.
        // A file beside a run whose checkpoints are gone is not reported (as before: no text for that run).
        Assert.False(File.Exists(Path.Combine(suite.Sweep, "seed2", SweepFolder.GenerationsFile)));
        File.Copy(files[0], Path.Combine(suite.Sweep, "seed2", SweepFolder.GenerationsFile));
        foreach (var f in files) File.Delete(f);
        var along = Cli.Run(["generate-along", "--sweep", suite.Sweep, .. gen]);
        Assert.True(along.Code == 0, along.Err);
        Assert.Equal(files, along.Out.Trim().Split('\n'));
        var second = Cli.Run(["analyze", "--sweep", suite.Sweep, "--train-ids", suite.TrainIds, "--out", Out("b"), .. gen]);
        Assert.True(second.Code == 0, second.Err);
        Assert.Contains("is up to date", second.Err, StringComparison.Ordinal);
        foreach (var f in new[] { "stats.json", "stats.md", "examples.csv", "report.html" })
            Assert.True(File.ReadAllBytes(Path.Combine(Out("a"), f)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(Out("b"), f))), $"seed {seed}: {f} differs");

        // 3. Other sampling settings make analyze generate anew.
        var third = Cli.Run(["analyze", "--sweep", suite.Sweep, "--train-ids", suite.TrainIds, "--out", Out("c"), "--backend", "cpu",
            "--max-tokens", "8", "--gen-prompts", "2"]);
        Assert.True(third.Code == 0, third.Err);
        Assert.DoesNotContain("is up to date", third.Err, StringComparison.Ordinal);
        Assert.All(GenerationsFile.Read(files[0]), r => Assert.True(r.MaxTokens == 8 && r.Seed == 0 && r.Prompt < 2, r.ToString()));

        static string Json(double v) => double.IsFinite(v) ? v.ToString("R", System.Globalization.CultureInfo.InvariantCulture) : "null";
        static string Read(JsonElement e) => e.ValueKind == JsonValueKind.Null ? "null" : e.GetDouble().ToString("R", System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public void Bad_input_is_one_line_and_exit_2()
    {
        var root = TestPaths.TempDir();
        var suite = SyntheticSuite.Build(root, 3, runs: 2, sequences: 10, checkpoints: 12);
        var outDir = Path.Combine(root, "out");
        var noCorpus = Cli.Run("analyze", "--sweep", suite.Sweep, "--out", outDir);
        Assert.Equal(2, noCorpus.Code);
        Assert.Contains("--train-ids", noCorpus.Err, StringComparison.Ordinal);
        var both = Cli.Run("analyze", "--sweep", suite.Sweep, "--train-ids", suite.TrainIds, "--train-text", suite.TrainIds, "--out", outDir);
        Assert.Equal(2, both.Code);
        File.WriteAllText(Path.Combine(root, "bad.ids"), "1 2 99999\n");
        var bad = Cli.Run("analyze", "--sweep", suite.Sweep, "--train-ids", Path.Combine(root, "bad.ids"), "--out", outDir, "--no-generate");
        Assert.Equal(2, bad.Code);
        Assert.Single(bad.Err.Trim().Split((char)10), l => l.StartsWith("learning-curves", StringComparison.Ordinal));
        Assert.False(File.Exists(Path.Combine(outDir, "report.html")));
        var missing = Cli.Run("analyze", "--sweep", Path.Combine(root, "nope"), "--train-ids", suite.TrainIds, "--out", outDir);
        Assert.Equal(2, missing.Code);
    }

    [Fact]
    public void A_full_disk_leaves_no_finished_report_and_a_rerun_after_freeing_space_writes_the_same_outputs()
    {
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        var root = Path.GetFullPath(TestPaths.TempDir());
        var suite = SyntheticSuite.Build(root, seed, runs: 2, sequences: 20, checkpoints: 14);
        string outDir = Path.Combine(root, "out");
        string[] args = ["analyze", "--sweep", suite.Sweep, "--train-ids", suite.TrainIds, "--out", outDir, "--no-generate"];
        var (refCode, refOut, refErr) = SweepTestData.Run(args, faults: null);
        Assert.True(refCode == 0, $"seed {seed}: {refOut}\n{refErr}");
        var reference = Snapshot(outDir);
        string[] finished = ["report.html", "stats.json", "stats.md"];
        foreach (var f in finished) Assert.True(reference.ContainsKey(f), $"{f} missing");
        long total = reference.Values.Sum(b => (long)b.Length);

        // The faultfs shim (tests/faultfs) fails writes under OUT with ENOSPC past a budget short of what the outputs
        // need; OUT still holds the complete outputs of the run above, so an earlier report must not survive either.
        foreach (long budget in new[] { 0L, total - 1, rng.NextInt64(1, total - 1) })
        {
            var (code, stdout, stderr) = SweepTestData.Run(args, new FaultFs(outDir, Budget: budget));
            string context = $"seed {seed}, budget {budget} of {total}: exit {code}\n{stdout}\n{stderr}";
            Assert.True(code == 2, context);
            string last = stderr.Trim().Split('\n')[^1];
            Assert.StartsWith("learning-curves analyze: ", last, StringComparison.Ordinal);
            Assert.Contains(outDir, last, StringComparison.Ordinal);
            Assert.Contains("space", last, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
            var left = Snapshot(outDir);
            foreach (var f in finished) Assert.False(left.ContainsKey(f), $"{f} left behind; {context}");
            Assert.DoesNotContain(left.Keys, k => k.EndsWith(".tmp", StringComparison.Ordinal));
            // What is left is whole: each file as the uninterrupted run wrote it.
            foreach (var (f, bytes) in left)
                Assert.True(reference.TryGetValue(f, out var want) && want.AsSpan().SequenceEqual(bytes), $"{f} is not as the uninterrupted run wrote it; {context}");
        }
        var (okCode, okOut, okErr) = SweepTestData.Run(args, faults: null);
        Assert.True(okCode == 0, $"seed {seed}: {okOut}\n{okErr}");
        var rerun = Snapshot(outDir);
        Assert.Equal(reference.Keys.Order(StringComparer.Ordinal), rerun.Keys.Order(StringComparer.Ordinal));
        foreach (var (f, bytes) in reference)
            Assert.True(bytes.AsSpan().SequenceEqual(rerun[f]), $"seed {seed}: {f} differs after the rerun");
    }

    /// <summary>Every file under <paramref name="dir"/> (relative path, '/'-separated) and its bytes.</summary>
    private static Dictionary<string, byte[]> Snapshot(string dir) => !Directory.Exists(dir) ? [] :
        Directory.GetFiles(dir, "*", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetRelativePath(dir, f).Replace('\\', '/'), File.ReadAllBytes, StringComparer.Ordinal);
}
