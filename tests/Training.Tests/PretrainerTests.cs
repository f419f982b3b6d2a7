using System.Text.Json;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.Model;
using LearningCurves.Tests.Common;
using LearningCurves.Training.Corpus;
using Xunit;

namespace LearningCurves.Training.Tests;

public sealed class PretrainerTests
{
    // A character tokenizer over a small alphabet: ids 1..27 for 'a'..'z' and ' ', 0 is the separator.
    private static TokenizerSpec CharTokenizer(string? filesDir) => new(
        s => s.Select(ch => ch == ' ' ? 27 : ch - 'a' + 1).ToArray(), 0, 28, "chars", filesDir);

    private static string MakeCorpus()
    {
        var src = TestPaths.TempDir();
        var rng = new Random(4);
        var words = new[] { "the union", "is strong", "we shall", "go on", "and on" };
        for (int d = 0; d < 10; d++)
        {
            var sentences = Enumerable.Range(0, 40).Select(_ => string.Join(' ', Enumerable.Range(0, 3).Select(_ => words[rng.Next(words.Length)])) + ".");
            File.WriteAllText(Path.Combine(src, $"{1900 + d}_x.txt"), string.Join(' ', sentences.Select(s => char.ToUpperInvariant(s[0]) + s[1..])));
        }
        var corpus = Path.Combine(TestPaths.TempDir(), "corpus");
        CorpusBuilder.Build(src, corpus, 5);
        // Lower-case and drop punctuation so the char tokenizer covers every character.
        var train = Path.Combine(corpus, CorpusBuilder.TrainFile);
        File.WriteAllLines(train, File.ReadAllLines(train).Select(l => new string(l.ToLowerInvariant().Where(c => c is ' ' or >= 'a' and <= 'z').ToArray())));
        return corpus;
    }

    [Fact]
    public void SuiteLearnsWritesLoadableCheckpointsAndSkipsCompleteRuns()
    {
        var corpus = MakeCorpus();
        var tokDir = TestPaths.TempDir();
        File.WriteAllText(Path.Combine(tokDir, "vocab.json"), "{}");
        File.WriteAllText(Path.Combine(tokDir, "merges.txt"), "#version: 0.2\n");
        var outDir = Path.Combine(TestPaths.TempDir(), "suite");
        var cfg = new ModelConfig { VocabSize = 40, MaxPositions = 16, Embd = 16, Layers = 1, Heads = 2 };
        var options = new PretrainOptions
        {
            CorpusDir = corpus, Config = cfg, ConfigSource = "test", Seeds = new[] { 0, 1 }, Steps = 60,
            Schedule = ScheduleKind.Exponential, Checkpoints = 6, OutDir = outDir, BatchSize = 8,
            Optimizer = new OptimizerSettings { LearningRate = 1e-2f, WarmupSteps = 5 },
        };
        var log = new StringWriter();
        var trainer = new Pretrainer(options, CharTokenizer(tokDir), log);
        trainer.Run();

        foreach (int seed in options.Seeds)
        {
            var run = Path.Combine(outDir, $"run-{seed}");
            var dirs = Directory.GetDirectories(run).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
            Assert.Equal(trainer.StepsToSave.Select(s => $"checkpoint-{s}").Order(StringComparer.Ordinal), dirs);
            foreach (var step in trainer.StepsToSave)
            {
                var ck = Path.Combine(run, $"checkpoint-{step}");
                Assert.True(File.Exists(Path.Combine(ck, "vocab.json")) && File.Exists(Path.Combine(ck, "merges.txt")));
                var w = HfCheckpoint.Load(ck);
                Assert.Equal(40, w.Config.VocabSize);
                // Ids the text never uses (28..39 and the capitals' slots) keep zero embeddings.
                Assert.All(w.Wte.Skip(30 * 16).Take(10 * 16), v => Assert.Equal(0f, v));
            }
            // Loss fell well below the start: the first logged loss vs the mean of the last ten.
            var losses = File.ReadAllLines(Path.Combine(run, "train-log.csv")).Skip(1).Select(l => double.Parse(l.Split(',')[1], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
            Assert.Equal(60, losses.Length);
            Assert.True(losses[^10..].Average() < 0.6 * losses[0], $"seed {seed}: loss {losses[0]:F3} -> {losses[^10..].Average():F3}");
        }
        // Seeds change the result; the step-0 checkpoints differ (initialization).
        var a0 = HfCheckpoint.Load(Path.Combine(outDir, "run-0", "checkpoint-0"));
        var b0 = HfCheckpoint.Load(Path.Combine(outDir, "run-1", "checkpoint-0"));
        Assert.NotEqual(a0.Wpe, b0.Wpe);

        using (var m = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "manifest.json"))))
        {
            Assert.Contains("data order", m.RootElement.GetProperty("seed_controls").GetString(), StringComparison.Ordinal);
            Assert.Equal(trainer.StepsToSave, m.RootElement.GetProperty("checkpoint_steps").EnumerateArray().Select(e => e.GetInt64()));
        }

        // Same settings again: both runs skipped, files untouched.
        var stamp = File.GetLastWriteTimeUtc(Path.Combine(outDir, "run-0", "run.json"));
        var log2 = new StringWriter();
        new Pretrainer(options, CharTokenizer(tokDir), log2).Run();
        Assert.Contains("run-0 already complete", log2.ToString(), StringComparison.Ordinal);
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(Path.Combine(outDir, "run-0", "run.json")));

        // A rerun of one seed alone reproduces its final checkpoint bit for bit (seeded init and order).
        var again = Path.Combine(TestPaths.TempDir(), "again");
        new Pretrainer(options with { Seeds = new[] { 1 }, OutDir = again }, CharTokenizer(null), new StringWriter()).Run();
        var last = trainer.StepsToSave[^1];
        Assert.Equal(File.ReadAllBytes(Path.Combine(outDir, "run-1", $"checkpoint-{last}", "model.safetensors")),
            File.ReadAllBytes(Path.Combine(again, "run-1", $"checkpoint-{last}", "model.safetensors")));
    }
}
