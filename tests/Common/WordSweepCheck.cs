using System.Diagnostics;
using System.Globalization;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.Model;
using LearningCurves.Formats.EvalSets;
using LearningCurves.Formats.IO;
using LearningCurves.Formats.Tokenization;
using Xunit;

namespace LearningCurves.Tests.Common;

/// <summary>
/// A word-target sweep end to end through the runner process (`eval-set --targets words`, then `sweep`) against
/// `score --words` of the same checkpoints, on one backend and precision, for the GPT-2 tokenizer (null) or a
/// SentencePiece fixture (tests/fixtures/tokenizers). The text's lines are cut to exactly seq-len - 2 tokens, so each
/// eval sequence is [begin, one line, separator] and its words have the contexts `score --words --seq-len seq-len-1`
/// gives them on the lines joined into one text (each line starts a new sequence after the same BOS).
/// </summary>
public static class WordSweepCheck
{
    private const int SeqLen = 16;
    private const int Lines = 7; // with --batch 3: batches of 3, 3 and 1 sequences

    public static string Run(string backend, string precision, string? tokenizer, double tolerance)
    {
        string root = TestPaths.TempDir($"word-sweep-{backend}-{precision}-{tokenizer ?? "gpt2"}");
        string? tokDir = tokenizer is null ? null : Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "tokenizers", tokenizer);
        var tok = tokDir is null ? Gpt2Tokenizer.Default : TextTokenizer.Load(tokDir);

        // Lines of exactly SeqLen - 2 tokens from the tokenizer fixture's corpus. GPT-2's lines begin with a space so
        // that joined they tokenize as the lines do one by one (SentencePiece's dummy prefix does that by itself).
        string lead = tokenizer is null ? " " : "";
        var lines = new List<string>();
        foreach (var src in File.ReadLines(Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "tokenizers", "corpus.txt")))
        {
            var words = src.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            for (int k = 1; k <= words.Length; k++)
            {
                string line = lead + string.Join(' ', words[..k]);
                int n = tok.Encode(line).Length;
                if (n > SeqLen - 2) break;
                if (n == SeqLen - 2)
                {
                    lines.Add(line);
                    break;
                }
            }
            if (lines.Count == Lines) break;
        }
        Assert.Equal(Lines, lines.Count);
        string joined = string.Join(tokenizer is null ? "" : " ", lines);
        Assert.Equal(lines.SelectMany(tok.Encode), tok.Encode(joined));
        string linesFile = Path.Combine(root, "lines.txt"), joinedFile = Path.Combine(root, "joined.txt");
        File.WriteAllLines(linesFile, lines);
        File.WriteAllText(joinedFile, joined);

        // Three random checkpoints (LLaMA-shaped for SentencePiece, GPT-2 otherwise) whose head is scaled up so that
        // their next-token distributions are far from uniform.
        var cfg = tokenizer is null
            ? new ModelConfig { VocabSize = tok.VocabSize, MaxPositions = SeqLen, Embd = 16, Layers = 2, Heads = 2 }
            : new ModelConfig { Architecture = Architecture.Llama, VocabSize = tok.VocabSize, MaxPositions = SeqLen, Embd = 16, Layers = 2, Heads = 4, KvHeads = 2, Inner = 24, TieWordEmbeddings = false };
        string run = Path.Combine(root, "run");
        int[] steps = [100, 200, 300];
        foreach (int step in steps)
        {
            var w = ModelWeights.Random(cfg, step, untiedHead: !cfg.TieWordEmbeddings);
            var head = w.Head.Select(x => x * 40f).ToArray();
            string dir = Path.Combine(run, $"checkpoint-{step}");
            HfCheckpoint.Save(dir, w.With(w.LmHead is null ? TensorRole.Wte : TensorRole.Head, head));
            if (tokDir is not null)
            {
                foreach (var f in Directory.GetFiles(tokDir)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
            }
        }

        string[] be = ["--backend", backend, "--precision", precision];
        string eval = Path.Combine(root, "eval");
        Cli(["eval-set", "--text", linesFile, .. tokDir is null ? Array.Empty<string>() : ["--tokenizer", tokDir], "--seq-len", $"{SeqLen}",
            "--per-sequence", "all", "--seed", "1", "--targets", "words", "--out", eval]);
        var set = EvalSet.Load(eval);
        Assert.Equal(Lines, set.SequenceCount);
        string outDir = Path.Combine(root, "sweep");
        Cli(["sweep", "--run", $"r={run}", "--eval", eval, "--out", outDir, "--batch", "3", .. be]);
        var (curve, shape) = Npy.ReadFloats(Path.Combine(outDir, "r", "surprisal.npy"));
        Assert.Equal([steps.Length, (long)set.Examples], shape);
        int begin = set.Manifest!["begin_id"]!.GetValue<int>();

        double worst = 0;
        var bad = new List<string>();
        for (int c = 0; c < steps.Length; c++)
        {
            string csv = Path.Combine(root, $"words-{steps[c]}.csv");
            string said = Cli(["score", "--model", Path.Combine(run, $"checkpoint-{steps[c]}"), "--text", joinedFile, "--words", "--seq-len", $"{SeqLen - 1}",
                "--out", csv, "--batch", "2", .. be]);
            Assert.Contains($"BOS token {begin} ", said, StringComparison.Ordinal);
            var rows = File.ReadAllLines(csv).Skip(1).Select(l => l.Split(',')).ToArray();
            Assert.Equal(set.Examples, rows.Length);
            for (int m = 0; m < set.Examples; m++)
            {
                var r = rows[m];
                Assert.Equal(set.Targets[2 * m], int.Parse(r[0], CultureInfo.InvariantCulture));
                var (first, last, _) = set.Words![m];
                string spelled = tok.Decode(set.Sequence(set.Targets[2 * m])[first..(last + 1)].ToArray()).Trim();
                Assert.Equal(spelled, string.Join(',', r[9..]).Trim('"'));
                double want = double.Parse(r[8], CultureInfo.InvariantCulture), got = curve[c * set.Examples + m];
                double err = Math.Abs(got - want);
                worst = Math.Max(worst, err);
                if (!(err <= tolerance) && bad.Count < 5) bad.Add($"checkpoint {steps[c]} word {m} '{spelled}': curve {got}, score --words {want}");
            }
        }
        Assert.True(bad.Count == 0, $"curve and score --words differ by more than {tolerance} bits:\n" + string.Join("\n", bad));
        return string.Create(CultureInfo.InvariantCulture, $"{backend}/{precision} {tokenizer ?? "gpt2"}: {set.Examples} words x {steps.Length} checkpoints, max |curve - score --words| {worst:E2} bits");
    }

    /// <summary>Runs the runner (learning-curves.dll beside the tests) to a zero exit; its stdout.</summary>
    public static string Cli(IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "learning-curves.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(300_000), "runner did not finish in 5 minutes");
        Assert.True(p.ExitCode == 0, $"learning-curves {string.Join(' ', psi.ArgumentList.Skip(1))}: exit {p.ExitCode}\n{output}\n{err.Result}");
        return output;
    }
}
