using LearningCurves.Formats;
using LearningCurves.Formats.Runs;
using LearningCurves.Tests.Common;
using Xunit;

namespace LearningCurves.Engine.Tests;

public class RunManifestTests
{
    [Fact]
    public void A_manifest_read_and_written_again_is_the_same_text()
    {
        var m = new RunManifest
        {
            Format = RunManifest.FormatName,
            Run = "run-\u00e9",
            EvalSet = new EvalSetEntry { Path = "/e", Hash = "sha256:0", Sequences = 3, SeqLen = 8, Examples = 30, VocabSize = 50257 },
            ModelConfig = new ModelConfigEntry { ModelType = "gpt_neox", LayerNormEpsilon = 1e-5f, RotaryBase = 10000, Gelu = "erf" },
            Backend = "cpu",
            Precision = "fp32",
            Surprisal = new SurprisalEntry { Shape = [2, 30] },
            Steps = new StepsEntry(),
            Rows = [new RowRecord(0, 0, "/c/0", RowStatus.Done, Checksum: "sha256:1", WeightsHash: "w", DuplicateOf: 4),
                new RowRecord(1, 4, "/c/4", RowStatus.Failed, Reason: "broken \"file\"")],
        };
        string path = Path.Combine(TestPaths.TempDir(), "manifest.json");
        File.WriteAllText(path, m.ToFileText());
        var back = RunManifest.ReadStrict(path);
        Assert.Equal(File.ReadAllText(path), back.ToFileText());
        Assert.Equal(RunManifest.Read(path)!.ToFileText(), back.ToFileText());
        string text = File.ReadAllText(path);
        Assert.Contains("\"layer_norm_epsilon\": 1E-05", text, StringComparison.Ordinal);
        Assert.Contains("\"status\": \"failed\"", text, StringComparison.Ordinal);
        Assert.DoesNotContain("\"checksum\": null", text, StringComparison.Ordinal);
        Assert.Equal([(0L, "/c/0"), (4L, "/c/4")], back.Checkpoints!);
        Assert.Equal(4, back.Rows![0].DuplicateOf);
    }

    [Theory]
    [InlineData("""{"row": 0, "step": 1, "status": "done"}""", "malformed row record")]
    [InlineData("""{"row": 0, "step": 1, "path": "/p", "status": "finished"}""", "unknown row status 'finished'")]
    [InlineData("""[1]""", "a row record must be a JSON object")]
    [InlineData("""{"row": 0,""", "invalid JSON")]
    public void A_bad_row_record_is_one_line_naming_the_file(string json, string message)
    {
        string path = Path.Combine(TestPaths.TempDir(), "000000.json");
        File.WriteAllText(path, json);
        var e = Assert.ThrowsAny<UserError>(() => RowRecord.Read(path));
        Assert.StartsWith(path, e.Message, StringComparison.Ordinal);
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void The_later_stages_read_a_partial_manifest()
    {
        string path = Path.Combine(TestPaths.TempDir(), "manifest.json");
        File.WriteAllText(path, """{"eval_set": {"path": "/e"}, "rows": [{"step": 7, "status": "done", "duplicate_of": 9}, {"step": 9}]}""");
        var m = RunManifest.Read(path)!;
        Assert.Equal("/e", m.EvalSetPath);
        Assert.Equal([RowStatus.Done, RowStatus.Pending], m.Rows!.Select(r => r.Status));
        Assert.Equal(9, m.Rows![0].DuplicateOf);
        Assert.Null(RunManifest.Read(Path.Combine(Path.GetDirectoryName(path)!, "none.json")));
    }
}
