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

    /// <summary>The SentencePiece case of the reference: `score --words` (WordScoreFile.Run) of its text.txt with the
    /// LLaMA-style fixture tokenizer sp-bpe on its model.</summary>
    public const string SentencePieceCase = "sp-words-f32";

    /// <summary>
    /// `score --text text.txt --words` of the SentencePiece case through <paramref name="model"/> (loaded from that
    /// folder) against the float64 reference, whose words and tokens come from python3-sentencepiece: the same words
    /// (text and token spans) and |ours - ref| &lt;= <see cref="Tolerance"/> bits per word.
    /// </summary>
    public static string RunSentencePiece(DecoderModel model, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(model);
        var dir = ParityCheck.FixtureDir(SentencePieceCase);
        var tok = TextTokenizer.Load(Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "tokenizers", "sp-bpe"));
        var (bos, _) = WordScoreFile.ChooseBos(tok, model.Config.VocabSize, "auto", null);
        Assert.Equal(tok.TokenToId("<s>"), bos);
        string csv = Path.Combine(TestPaths.TempDir("sp-words"), "w.csv");
        string textPath = Path.Combine(dir, "text.txt");
        WordScoreFile.Run(textPath, csv, tok, model, bos, model.Config.MaxPositions, batchSize);
        var (want, shape) = Npy.ReadDoubles(Path.Combine(dir, "word_surprisal.npy"));
        var rows = File.ReadAllLines(csv).Skip(1).Select(l => l.Split(',')).ToArray();
        var words = File.ReadAllText(textPath).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal((int)shape[0], rows.Length);
        Assert.Equal(words.Length, rows.Length);
        double worst = 0;
        var report = new List<string>();
        for (int i = 0; i < rows.Length; i++)
        {
            var r = want.AsSpan(i * 7, 7);
            double D(int col) => double.Parse(rows[i][col], CultureInfo.InvariantCulture);
            Assert.Equal(((int)r[1], (int)r[2]), ((int)D(4), (int)D(5)));
            Assert.Equal(words[i], string.Join(',', rows[i][9..]).Trim('"'));
            double err = Math.Abs(D(8) - r[6]);
            worst = Math.Max(worst, err);
            if (err > Tolerance || Math.Abs(D(7) - r[5]) > Tolerance)
                report.Add(string.Create(CultureInfo.InvariantCulture, $"word {i} '{words[i]}': {D(8)} bits, reference {r[6]} (tokens {D(6)} vs {r[4]}, boundary {D(7)} vs {r[5]})"));
        }
        Assert.True(report.Count == 0, $"{report.Count} of {rows.Length} words differ by more than {Tolerance} bits:\n" + string.Join("\n", report.Take(5)));
        // Every word of a SentencePiece text has the leading term, the first one's from the dummy prefix.
        Assert.All(Enumerable.Range(0, rows.Length), i => Assert.Equal(1.0, want[i * 7 + 3]));
        return string.Create(CultureInfo.InvariantCulture, $"SentencePiece: {rows.Length} words: max |error| {worst:E2} bits");
    }

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
