using System.Text;
using LearningCurves.Engine.Scoring;
using LearningCurves.Runner;
using LearningCurves.Tests.Common;
using Xunit;
using LearningCurves.Formats.IO;
using LearningCurves.Formats.Tokenization;

namespace LearningCurves.Runner.Tests;

/// <summary>Runs the command line in-process and captures what it prints.</summary>
internal static class Cli
{
    private static readonly object ConsoleLock = new();

    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        lock (ConsoleLock)
        {
            var (oldOut, oldErr) = (Console.Out, Console.Error);
            var (o, e) = (new StringWriter(), new StringWriter());
            Console.SetOut(o);
            Console.SetError(e);
            try
            {
                int code = Program.Main(args);
                return (code, o.ToString(), e.ToString());
            }
            finally
            {
                Console.SetOut(oldOut);
                Console.SetError(oldErr);
            }
        }
    }

    public static string Parity(string name) => Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "parity", name);

    /// <summary>A private copy of a committed parity model folder, to damage.</summary>
    public static string CopyModel(string name, string dest)
    {
        Directory.CreateDirectory(dest);
        foreach (var f in new[] { "config.json", "model.safetensors" }) File.Copy(Path.Combine(Parity(name), f), Path.Combine(dest, f));
        return dest;
    }
}

[Collection(ConsoleTests.Name)]
public class ScoreCommandTests
{
    public static TheoryData<string> Cases => new(
        "tied-prefix-f32", "inner-untied-noprefix-f16", "inverse-idx-bf16", "legacy-nctx-unscaled-bf16-untied");

    private static void MatchesReference(string csv, string refDir)
    {
        var rows = SurprisalCsv.Read(csv);
        var seqs = TokenIdsFile.Read(Path.Combine(refDir, "ids.txt"));
        var (want, _) = Npy.ReadDoubles(Path.Combine(refDir, "surprisal.npy"));
        Assert.Equal(want.Length, rows.Count);
        int k = 0;
        double maxErr = 0;
        for (int s = 0; s < seqs.Count; s++)
        {
            for (int p = 1; p < seqs[s].Length; p++, k++)
            {
                Assert.Equal((s, p, seqs[s][p]), (rows[k].Sequence, rows[k].Position, rows[k].Token));
                maxErr = Math.Max(maxErr, Math.Abs(rows[k].Surprisal - want[k]));
            }
        }
        Assert.True(maxErr <= 1e-4, $"{refDir}: surprisal max abs error {maxErr:E3} bits > 1e-4");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Score_matches_the_reference(string name)
    {
        var dir = Cli.Parity(name);
        var outDir = TestPaths.TempDir();
        var csv = Path.Combine(outDir, "s.csv");
        var (code, stdout, err) = Cli.Run("score", "--model", dir, "--ids", Path.Combine(dir, "ids.txt"), "--out", csv, "--backend", "cpu", "--batch", "3");
        Assert.True(code == 0, err);
        Assert.Contains("scored", stdout, StringComparison.Ordinal);
        Assert.StartsWith(SurprisalCsv.Header + "\n", File.ReadAllText(csv));
        Assert.Equal(["s.csv"], Directory.GetFiles(outDir).Select(Path.GetFileName));
        MatchesReference(csv, dir);
    }

    [Fact]
    public void Score_matches_the_reference_on_the_hugging_face_tiny_random_gpt2()
    {
        var model = TestPaths.SharedFixture("tiny-random-gpt2");
        var refDir = Cli.Parity("tiny-random-gpt2-reference");
        var csv = Path.Combine(TestPaths.TempDir(), "s.csv");
        var (code, _, err) = Cli.Run("score", "--model", model, "--ids", Path.Combine(refDir, "ids.txt"), "--out", csv, "--backend", "cpu");
        Assert.True(code == 0, err);
        MatchesReference(csv, refDir);
    }

    [Fact]
    public void Text_is_tokenized_and_cut_into_consecutive_sequences()
    {
        var model = TestPaths.SharedFixture("tiny-random-gpt2");
        var dir = TestPaths.TempDir();
        var text = Path.Combine(dir, "in.txt");
        File.WriteAllText(text, "The quick brown fox jumps over the lazy dog. Hello world, this is a test of the scorer.\n");
        var csv = Path.Combine(dir, "s.csv");
        var (code, _, err) = Cli.Run("score", "--model", model, "--text", text, "--seq-len", "8", "--out", csv, "--backend", "cpu");
        Assert.True(code == 0, err);

        var ids = Gpt2Tokenizer.FromFolder(model).Encode(File.ReadAllText(text));
        var rows = SurprisalCsv.Read(csv);
        var expected = new List<(int, int, int)>();
        for (int s = 0; s * 8 < ids.Length; s++)
        {
            for (int p = 1; p < Math.Min(8, ids.Length - s * 8); p++) expected.Add((s, p, ids[s * 8 + p]));
        }
        Assert.Equal(expected, rows.Select(r => (r.Sequence, r.Position, r.Token)));
        Assert.All(rows, r => Assert.True(float.IsFinite(r.Surprisal) && r.Surprisal >= 0));
    }

    [Fact]
    public void The_built_in_tokenizer_must_fit_the_model()
    {
        var model = Cli.Parity("legacy-nctx-unscaled-bf16-untied");   // n_ctx 12, vocab 128: built-in tokenizer won't fit
        var dir = TestPaths.TempDir();
        var text = Path.Combine(dir, "in.txt");
        File.WriteAllText(text, "hello");
        var csv = Path.Combine(dir, "s.csv");
        var (code, _, err) = Cli.Run("score", "--model", model, "--text", text, "--out", csv, "--backend", "cpu");
        Assert.Equal(2, code);
        Assert.Contains("no tokenizer", err, StringComparison.Ordinal);
        Assert.False(File.Exists(csv));
    }

    [Theory]
    [InlineData("--ids")]
    [InlineData("--text")]
    public void Usage_errors_exit_2(string which)
    {
        var dir = Cli.Parity("tied-prefix-f32");
        var outCsv = Path.Combine(TestPaths.TempDir(), "s.csv");
        Assert.Equal(2, Cli.Run("score", "--model", dir, "--out", outCsv).Code);
        Assert.Equal(2, Cli.Run("score", "--model", dir, which, "x", "--ids", "y", "--out", outCsv).Code);
        Assert.Equal(2, Cli.Run("score", "--model", dir, "--ids", "x", "--seq-len", "4", "--out", outCsv).Code);
        Assert.Equal(2, Cli.Run("score", "--model", dir, "--ids", "x", "--out", outCsv, "--frobnicate", "1").Code);
        Assert.False(File.Exists(outCsv));
    }
}
