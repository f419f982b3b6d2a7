using System.Globalization;
using System.Text;
using LearningCurves.Analysis.NGrams;
using LearningCurves.Analysis.Phases;
using LearningCurves.Formats.IO;
using LearningCurves.Formats.Curves;
using LearningCurves.Formats.Runs;

namespace LearningCurves.Analysis.Report;

/// <summary>
/// The demo's closing table: mean held-out surprisal per run over training against chance, and the Pearson r between
/// the model's surprisal and 1..5-gram surprisal (n-grams counted on the training text, one sequence per line) at each
/// shown checkpoint, with the step where each n peaks: the paper's ordering is unigram first, longer n later.
/// </summary>
public static class DemoSummary
{
    /// <summary>
    /// Reads the training token stream (.npy int32, sequences separated by <paramref name="endOfText"/>), the eval set
    /// and the sweep's curve files for <paramref name="runs"/>; returns the table as text.
    /// </summary>
    public static string Build(string trainTokensFile, string evalDir, string sweepDir, IReadOnlyList<string> runs, int vocabSize, int endOfText, int maxRows = 12)
    {
        ArgumentNullException.ThrowIfNull(runs);
        var (stream, _) = Npy.ReadInt32(trainTokensFile);
        var counter = new NGramCounter(vocabSize);
        int start = 0;
        for (int i = 1; i <= stream.Length; i++)
        {
            // Each line is a sequence: <|endoftext|> marks the starts.
            if (i == stream.Length || stream[i] == endOfText)
            {
                if (i - start > 1) counter.Add(stream.AsSpan(start + 1, i - start - 1));
                start = i;
            }
        }
        var ngram = counter.Build();

        var (seqs, seqShape) = Npy.ReadInt32(Path.Combine(evalDir, "sequences.npy"));
        var (targets, tShape) = Npy.ReadInt32(Path.Combine(evalDir, "targets.npy"));
        int seqLen = (int)seqShape[1], m = (int)tShape[0];
        var ng = new double[5][];
        for (int n = 0; n < 5; n++) ng[n] = new double[m];
        Span<double> s5 = stackalloc double[5];
        for (int e = 0; e < m; e++)
        {
            int s = targets[2 * e], p = targets[2 * e + 1];
            var seq = seqs.AsSpan(s * seqLen, seqLen);
            // Context since the last separator, as the n-grams never cross a line start.
            int from = p - 1;
            while (from >= 0 && seq[from] != endOfText) from--;
            ngram.Surprisals(seq[(from + 1)..p], seq[p], s5);
            for (int n = 0; n < 5; n++) ng[n][e] = s5[n];
        }

        var curves = new List<IReadOnlyList<float[]>>();
        long[]? steps = null;
        for (int r = 0; r < runs.Count; r++)
        {
            var (st, _) = Npy.ReadInt64(Path.Combine(sweepDir, runs[r], SweepFolder.StepsFile));
            steps ??= st;
            using var curve = new CurveFileReader(Path.Combine(sweepDir, runs[r], SweepFolder.SurprisalFile), CurveLayout.CheckpointsFirst, r);
            if (curve.Examples != m) throw new InvalidOperationException($"{runs[r]}: {curve.Examples} examples in the curve file, the eval set has {m}");
            curves.Add(curve.ReadCheckpoints(allowNonFinite: true));
        }
        var phases = LearningPhaseAnalysis.Compute(curves, ng, steps!);

        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        double chance = Math.Log2(vocabSize);
        string ngMeans = string.Join(", ", Enumerable.Range(0, 5).Select(n => string.Create(inv, $"{n + 1}-gram {ng[n].Average():F2}")));
        sb.AppendLine(inv, $"held-out examples: {m:N0}; chance {chance:F2} bits; n-gram surprisal on them (bits): {ngMeans}");
        sb.Append(inv, $"{"step",8} |");
        foreach (var r in runs) sb.Append(inv, $" {r,8}");
        sb.Append(" | r with n-gram surprisal: n=1     2     3     4     5").AppendLine();
        int rows = steps!.Length;
        var show = Enumerable.Range(0, Math.Min(maxRows, rows)).Select(i => (int)Math.Round(i * (rows - 1) / (double)Math.Max(1, Math.Min(maxRows, rows) - 1)))
            .Distinct().ToArray();
        foreach (int i in show)
        {
            sb.Append(inv, $"{steps[i],8} |");
            foreach (var c in curves) sb.Append(inv, $" {c[i].Where(float.IsFinite).Average(x => (double)x),8:F2}");
            sb.Append("  |                          ");
            for (int n = 0; n < 5; n++) sb.Append(inv, $"{phases.MeanR[i][n],6:F2}");
            sb.AppendLine();
        }
        string peaks = string.Join(", ", Enumerable.Range(0, 5).Select(n => string.Create(inv, $"{n + 1}-gram {phases.PeakStep[n]}")));
        sb.AppendLine(inv, $"peak r at step: {peaks}");
        bool ordered = true;
        for (int n = 1; n < 5; n++) ordered &= phases.PeakStep[n] >= phases.PeakStep[n - 1];
        double last = curves.Average(c => c[^1].Where(float.IsFinite).Average(x => (double)x));
        // "Learned" means well below chance: under three quarters of log2(vocabulary).
        string verdict = last < 0.75 * chance ? "the models learned" : "little learning";
        sb.AppendLine(inv, $"final mean surprisal {last:F2} bits vs chance {chance:F2}: {verdict}");
        sb.AppendLine("paper's ordering (peaks non-decreasing in n): " + (ordered ? "yes" : "no"));
        return sb.ToString();
    }
}
