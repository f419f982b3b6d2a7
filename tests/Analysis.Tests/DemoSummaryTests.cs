using LearningCurves.Tests.Common;
using LearningCurves.Analysis.Report;
using Xunit;
using LearningCurves.Formats.IO;

namespace LearningCurves.Analysis.Tests;

public sealed class DemoSummaryTests
{
    [Fact]
    public void TableShowsLearningAndWhereEachNGramOrderPeaks()
    {
        const int eot = 0, vocab = 12;
        var rng = new Random(9);
        var root = TestPaths.TempDir();
        string suite = Path.Combine(root, "suite"), eval = Path.Combine(root, "eval"), sweep = Path.Combine(root, "sweep");

        // Training text: lines from a small Markov chain, each line after <|endoftext|>.
        var stream = new List<int>();
        for (int line = 0; line < 400; line++)
        {
            stream.Add(eot);
            int tok = 1 + rng.Next(vocab - 1);
            for (int i = 0; i < 12; i++)
            {
                stream.Add(tok);
                tok = rng.NextDouble() < 0.7 ? 1 + tok % (vocab - 1) : 1 + rng.Next(vocab - 1);
            }
        }
        string trainTokens = Path.Combine(suite, "train-tokens.npy");
        Npy.Write<int>(trainTokens, stream.ToArray(), stream.Count);

        // Eval set: 30 sequences of 16 tokens cut from the same chain; targets at positions 1..15.
        int n = 30, len = 16;
        var seqs = new int[n * len];
        for (int s = 0; s < n; s++)
        {
            int start = rng.Next(stream.Count - len);
            for (int i = 0; i < len; i++) seqs[s * len + i] = stream[start + i];
        }
        var targets = Enumerable.Range(0, n).SelectMany(s => Enumerable.Range(1, len - 1).SelectMany(p => new[] { s, p })).ToArray();
        Npy.Write<int>(Path.Combine(eval, "sequences.npy"), seqs, n, len);
        Npy.Write<int>(Path.Combine(eval, "targets.npy"), targets, targets.Length / 2, 2);
        int m = targets.Length / 2;

        // Two runs: chance, then noise, then a close copy of a fixed target pattern, so surprisal falls.
        var steps = new long[] { 0, 10, 100 };
        foreach (var run in new[] { "run-0", "run-1" })
        {
            var curves = new float[3 * m];
            for (int e = 0; e < m; e++)
            {
                curves[e] = (float)Math.Log2(vocab) + (float)(0.01 * rng.NextDouble());
                curves[m + e] = 3f + (float)rng.NextDouble();
                curves[2 * m + e] = 1f + (float)(0.1 * rng.NextDouble());
            }
            Npy.Write<float>(Path.Combine(sweep, run, "surprisal.npy"), curves, 3, m);
            Npy.Write<long>(Path.Combine(sweep, run, "steps.npy"), steps, 3);
        }

        var text = DemoSummary.Build(trainTokens, eval, sweep, ["run-0", "run-1"], vocab, eot);
        Assert.Contains($"held-out examples: {m}", text, StringComparison.Ordinal);
        Assert.Contains("chance 3.58 bits", text, StringComparison.Ordinal);
        Assert.Contains("the models learned", text, StringComparison.Ordinal);
        Assert.Contains("peak r at step:", text, StringComparison.Ordinal);
        var rows = text.Split('\n').Where(l => l.Contains(" | ", StringComparison.Ordinal) && char.IsDigit(l.Trim()[0])).ToArray();
        Assert.Equal(3, rows.Length);
        Assert.StartsWith("100", rows[^1].Trim(), StringComparison.Ordinal);
    }
}
