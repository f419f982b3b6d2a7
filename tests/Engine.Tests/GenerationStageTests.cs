using System.Text.Json.Nodes;
using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.EvalSets;
using LearningCurves.Engine.Generation;
using LearningCurves.Engine.Model;
using LearningCurves.Formats;
using LearningCurves.Tests.Common;
using Xunit;
using LearningCurves.Formats.IO;
using LearningCurves.Formats.EvalSets;
using LearningCurves.Formats.Runs;

namespace LearningCurves.Engine.Tests;

public class GenerationStageTests
{
    [Fact]
    public void Checkpoints_nearest_each_power_of_ten()
    {
        long[] steps = [0, 3, 8, 12, 40, 90, 120, 900, 2000, 9000, 30000];
        var picked = TrainingGeneration.NearestToPowersOfTen(steps);
        // 1 -> 3 (the only one within half a decade), 10 -> 12 (|log 1.2| < |log 0.8|), 100 -> 90, 1k -> 900,
        // 10k -> 9000; 100k is more than half a decade from 30000, which is still taken as the final checkpoint.
        Assert.Equal([1, 3, 5, 7, 9, 10], picked);
        Assert.Empty(TrainingGeneration.NearestToPowersOfTen([0]));
        // A single checkpoint far from every power still is picked for the nearest one.
        Assert.Equal([0], TrainingGeneration.NearestToPowersOfTen([500]));
        Assert.Equal([0, 1], TrainingGeneration.NearestToPowersOfTen([100, 100000]));
    }

    [Fact]
    public void Prompts_come_from_evenly_spread_sequences_and_leave_room()
    {
        var seqs = Enumerable.Range(0, 10 * 200).ToArray(); // 10 sequences of 200 tokens
        var p = TrainingGeneration.PromptsFromEvalSet(seqs, 200, 4);
        Assert.Equal(4, p.Length);
        Assert.All(p, x => Assert.Equal(TrainingGeneration.MaxPromptTokens, x.Length));
        Assert.Equal([0, 400, 1000, 1400], p.Select(x => x[0]));
        var short_ = TrainingGeneration.PromptsFromEvalSet(Enumerable.Range(0, 3 * 20).ToArray(), 20, 8);
        Assert.Equal(3, short_.Length);
        Assert.All(short_, x => Assert.Equal(10, x.Length));
    }

    /// <summary>A sweep folder with two runs whose manifests name tiny random checkpoints (run b lacks one folder).</summary>
    private static (string Sweep, long[] Steps) Suite(string root, int seed)
    {
        var rng = new Random(seed);
        const int vocab = 90, seqLen = 24, sequences = 6;
        var tokens = Enumerable.Range(0, sequences * seqLen).Select(_ => rng.Next(vocab)).ToArray();
        string evalDir = Path.Combine(root, "eval");
        new EvalSet(tokens, sequences, seqLen, [0, 1, 1, 2, 5, 3], vocab).Save(evalDir, new JsonObject());
        long[] steps = [0, 1, 3, 10, 30, 100];
        var cfg = new ModelConfig { VocabSize = vocab, MaxPositions = 48, Embd = 8, Layers = 1, Heads = 2 };
        string sweep = Path.Combine(root, "sweep");
        foreach (var run in new[] { "a", "b" })
        {
            string dir = Path.Combine(sweep, run);
            Directory.CreateDirectory(dir);
            Npy.Write<float>(Path.Combine(dir, SweepFolder.SurprisalFile), new float[steps.Length * 3], steps.Length, 3);
            Npy.Write<long>(Path.Combine(dir, SweepFolder.StepsFile), steps, steps.Length);
            var rows = new JsonArray();
            for (int k = 0; k < steps.Length; k++)
            {
                string cp = Path.Combine(root, "cp", run, $"step-{steps[k]}");
                if (!(run == "b" && steps[k] == 10))
                {
                    Directory.CreateDirectory(cp);
                    HfCheckpoint.Save(cp, ModelWeights.Random(cfg, seed + k));
                }
                rows.Add(new JsonObject { ["row"] = k, ["step"] = steps[k], ["path"] = cp, ["status"] = "done" });
            }
            var manifest = new JsonObject { ["run"] = run, ["eval_set"] = new JsonObject { ["path"] = evalDir }, ["rows"] = rows };
            File.WriteAllText(Path.Combine(dir, SweepFolder.ManifestFile), manifest.ToJsonString());
        }
        return (sweep, steps);
    }

    [Fact]
    public void Writes_every_prompt_at_the_chosen_checkpoints_and_keeps_a_current_file()
    {
        int seed = Random.Shared.Next(1 << 20);
        var root = TestPaths.TempDir();
        var (sweep, _) = Suite(root, seed);
        var options = new GenerationStageOptions
        {
            SweepDir = sweep,
            Prompts = 3,
            Generation = new GenerationOptions { Temperature = 0.7, MaxTokens = 5, Seed = 11 },
        };
        int made = 0;
        IBackend Make()
        {
            made++;
            return new CpuBackend();
        }
        var log = new StringWriter();
        var result = GenerationStage.Run(options, Make, log);
        Assert.Equal(1, made);
        Assert.Equal(["a", "b"], result.Written);
        Assert.Single(result.Notes, n => n.StartsWith("run b: 1 chosen checkpoint folder(s) no longer exist", StringComparison.Ordinal));

        var a = GenerationsFile.Read(Path.Combine(sweep, "a", SweepFolder.GenerationsFile));
        // Steps 1, 10, 100 (nearest each power of ten, plus the last), three prompts each, in order.
        Assert.Equal([1L, 1, 1, 10, 10, 10, 100, 100, 100], a.Select(r => r.Step));
        Assert.Equal([0, 1, 2, 0, 1, 2, 0, 1, 2], a.Select(r => r.Prompt));
        Assert.All(a, r => Assert.True(r.Ids.Length == 5 && r.Temperature == 0.7 && r.MaxTokens == 5 && r.Seed == 11, $"seed {seed}: {r}"));
        Assert.All(a, r => Assert.Equal(12, r.PromptIds.Length)); // half the eval set's sequence length
        var b = GenerationsFile.Read(Path.Combine(sweep, "b", SweepFolder.GenerationsFile));
        Assert.Equal([1L, 1, 1, 100, 100, 100], b.Select(r => r.Step));

        // The ids are what the generator gives for that checkpoint and prompt.
        using (var be = new CpuBackend())
        using (var gen = new DecoderModel(be, HfCheckpoint.Load(a[3].Checkpoint)))
        {
            var again = gen.Generate([a[3].PromptIds, a[4].PromptIds, a[5].PromptIds], options.Generation);
            Assert.Equal(a[4].Ids, again[1]);
        }

        // Run again with KeepCurrent: nothing is generated, no backend is made; other settings regenerate.
        var stamp = File.GetLastWriteTimeUtc(Path.Combine(sweep, "a", SweepFolder.GenerationsFile));
        var kept = GenerationStage.Run(options with { KeepCurrent = true }, Make, TextWriter.Null);
        Assert.Equal(1, made);
        Assert.Equal(["a", "b"], kept.Kept);
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(Path.Combine(sweep, "a", SweepFolder.GenerationsFile)));
        var other = GenerationStage.Run(options with { KeepCurrent = true, Generation = options.Generation with { Seed = 12 }, Runs = ["a"] }, Make, TextWriter.Null);
        Assert.Equal(2, made);
        Assert.Equal(["a"], other.Written);
        Assert.All(GenerationsFile.Read(Path.Combine(sweep, "a", SweepFolder.GenerationsFile)), r => Assert.Equal(12, r.Seed));
    }

    /// <summary>The fit check (`analyze` and `generate-along` pass BatchSizing.CheckFits): once the backend is made and
    /// before any file is written, once per config with its first chosen checkpoint folder and the longest sequence
    /// generated (the longest prompt plus max-tokens, at most n_positions); what it throws stops the stage with
    /// nothing written.</summary>
    [Fact]
    public void The_fit_check_sees_each_config_once_before_any_file_and_its_refusal_writes_nothing()
    {
        int seed = Random.Shared.Next(1 << 20);
        var root = TestPaths.TempDir();
        var (sweep, _) = Suite(root, seed);
        var seen = new List<(ModelConfig Config, bool Untied, int T, string Dir)>();
        var options = new GenerationStageOptions
        {
            SweepDir = sweep,
            Prompts = 3,
            Generation = new GenerationOptions { Temperature = 0, MaxTokens = 5, Seed = 1 },
            CheckFits = (be, cfg, untied, t, dir) =>
            {
                Assert.Equal("cpu", be.Name);
                Assert.False(File.Exists(Path.Combine(sweep, "a", SweepFolder.GenerationsFile)), "a file was written before the check");
                seen.Add((cfg, untied, t, dir));
            },
        };
        GenerationStage.Run(options, () => new CpuBackend(), TextWriter.Null);
        // One config for both runs: checked once, with run a's first chosen checkpoint (step 1); prompts of 12 tokens.
        var (config, untiedHead, longest, folder) = Assert.Single(seen);
        Assert.Equal(HfConfig.LoadFromFolder(folder), config);
        Assert.Equal(Path.Combine(root, "cp", "a", "step-1"), folder);
        Assert.Equal((!config.TieWordEmbeddings, 12 + 5), (untiedHead, longest));
        // Capped at n_positions (48).
        seen.Clear();
        foreach (var run in new[] { "a", "b" }) File.Delete(Path.Combine(sweep, run, SweepFolder.GenerationsFile));
        GenerationStage.Run(options with { Generation = options.Generation with { MaxTokens = 100 } }, () => new CpuBackend(), TextWriter.Null);
        Assert.Equal(48, Assert.Single(seen).T);

        foreach (var run in new[] { "a", "b" }) File.Delete(Path.Combine(sweep, run, SweepFolder.GenerationsFile));
        var e = Assert.Throws<UserError>(() => GenerationStage.Run(options with { CheckFits = (_, _, _, _, dir) => throw UserError.InFile(dir, "does not fit") },
            () => new CpuBackend(), TextWriter.Null));
        Assert.Equal($"{Path.Combine(root, "cp", "a", "step-1")}: does not fit", e.Message);
        foreach (var run in new[] { "a", "b" }) Assert.False(File.Exists(Path.Combine(sweep, run, SweepFolder.GenerationsFile)), $"run {run}: written despite the refusal");
    }

    [Fact]
    public void Generations_file_round_trips_and_names_a_bad_line()
    {
        var root = TestPaths.TempDir();
        string path = Path.Combine(root, SweepFolder.GenerationsFile);
        var recs = new[]
        {
            new GenerationRecord("r", 10, "/cp/10", 0, [1, 2], "a \"quoted\" <b>\n", [3, 4, 5], "é ü", 0.3, 128, 0),
            new GenerationRecord("r", 100, "/cp/100", 1, [], "", [], "", 0, 1, -5),
        };
        GenerationsFile.Write(path, recs);
        Assert.Equal(2, File.ReadAllLines(path).Length);
        Assert.Contains("<b>", File.ReadAllText(path), StringComparison.Ordinal); // relaxed escaping: readable text
        var back = GenerationsFile.Read(path);
        for (int i = 0; i < recs.Length; i++)
        {
            Assert.Equal(recs[i] with { PromptIds = [], Ids = [] }, back[i] with { PromptIds = [], Ids = [] });
            Assert.Equal(recs[i].PromptIds, back[i].PromptIds);
            Assert.Equal(recs[i].Ids, back[i].Ids);
        }
        File.AppendAllText(path, "{\"run\": \"r\"}\n");
        var err = Assert.Throws<UserError>(() => GenerationsFile.Read(path));
        Assert.Contains("line 3", err.Message, StringComparison.Ordinal);
    }
}
