using System.Globalization;
using LearningCurves.Engine.Model;
using LearningCurves.Engine.Scoring;
using LearningCurves.Formats.IO;
using LearningCurves.Formats.Tokenization;
using Xunit;

namespace LearningCurves.Tests.Common;

/// <summary>
/// Word surprisal (token sums + boundary correction) on the tiny fixture model against the float64 reference
/// tests/reference/word_surprisal_reference.py (tests/fixtures/parity/tied-prefix-f32/word_surprisal.npy): the same
/// words (they begin at the first scored token and at every boundary token, ids with id % 4 == 1), |ours - ref| &lt;= 2e-4
/// bits per word (a few tokens' 1e-4 surprisal tolerance).
/// </summary>
public static class WordSurprisalCheck
{
    public const string Case = "tied-prefix-f32";
    public const double Tolerance = 2e-4;

    /// <summary>The reference's boundary ids.</summary>
    public static bool[] Boundary(int v) => Enumerable.Range(0, v).Select(i => i % 4 == 1).ToArray();

    public static string Run(DecoderModel model, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(model);
        var dir = ParityCheck.FixtureDir(Case);
        var seqs = TokenIdsFile.Read(Path.Combine(dir, "ids.txt"));
        var (want, shape) = Npy.ReadDoubles(Path.Combine(dir, "word_surprisal.npy"));
        Assert.Equal(7, shape[1]);
        var boundary = Boundary(model.Config.VocabSize);
        // The words, found here from the ids, must be the reference's.
        var words = new List<(int Sequence, WordSurprisal.Placed Word)>();
        for (int s = 0; s < seqs.Count; s++)
        {
            var ids = seqs[s];
            if (ids.Length < 2) continue;
            int first = 1;
            for (int p = 2; p <= ids.Length; p++)
            {
                if (p == ids.Length || boundary[ids[p]])
                {
                    words.Add((s, new WordSurprisal.Placed(first, p - 1, boundary[ids[first]])));
                    first = p;
                }
            }
        }
        Assert.Equal((int)shape[0], words.Count);
        var got = WordSurprisal.ScoreWords(model, boundary, seqs, words, batchSize);
        double worst = 0, worstBoundary = 0;
        int bad = 0;
        var report = new List<string>();
        for (int i = 0; i < words.Count; i++)
        {
            var r = want.AsSpan(i * 7, 7);
            var (s, w) = words[i];
            Assert.Equal(((int)r[0], (int)r[1], (int)r[2], r[3] != 0), (s, w.First, w.Last, w.LeadingBoundary));
            double err = Math.Abs(got[i].Bits - r[6]);
            worst = Math.Max(worst, err);
            worstBoundary = Math.Max(worstBoundary, Math.Abs(got[i].BoundaryBits - r[5]));
            if (err > Tolerance && bad++ < 5)
                report.Add(string.Create(CultureInfo.InvariantCulture, $"sequence {s} tokens {w.First}..{w.Last}: {got[i].Bits} bits, reference {r[6]} (tokens {got[i].TokenBits} vs {r[4]}, boundary {got[i].BoundaryBits} vs {r[5]})"));
        }
        Assert.True(bad == 0, $"{bad} of {words.Count} words differ by more than {Tolerance} bits:\n" + string.Join("\n", report));
        // The correction matters on this fixture: it is not zero everywhere.
        Assert.Contains(Enumerable.Range(0, words.Count), i => Math.Abs(want[i * 7 + 5]) > 0.01);
        return string.Create(CultureInfo.InvariantCulture, $"{words.Count} words: max |error| {worst:E2} bits (boundary term {worstBoundary:E2})");
    }
}
