using System.Globalization;
using LearningCurves.Engine.Model;
using Xunit;
using LearningCurves.Formats.IO;
using LearningCurves.Formats.Tokenization;

namespace LearningCurves.Tests.Common;

/// <summary>
/// One comparison of a model (on any backend) with the float64 reference outputs of tests/reference/gpt2_reference.py
/// kept in a fixture folder (ids.txt, surprisal.npy, logit_rows.npy, logits.npy). Surprisal: |ours - ref| within
/// <see cref="SurprisalAbsTol"/> bits; logits: max|ours - ref| / max|ref| per stored row within <see cref="LogitRelTol"/>.
/// </summary>
public static class ParityCheck
{
    public const double LogitRelTol = 1e-5;
    public const double SurprisalAbsTol = 1e-4;

    /// <summary>The committed fixture folder tests/fixtures/parity/NAME.</summary>
    public static string FixtureDir(string name) => Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "parity", name);

    /// <summary>Scores the sequences <paramref name="batchSize"/> at a time (mixed lengths share a batch, so padding must
    /// not leak into real positions), compares, and returns a one-line summary of the errors.</summary>
    public static string Run(DecoderModel model, string refDir, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(model);
        var sequences = TokenIdsFile.Read(Path.Combine(refDir, "ids.txt"));
        var (wantSurprisal, _) = Npy.ReadDoubles(Path.Combine(refDir, "surprisal.npy"));
        var (rows, rowShape) = Npy.ReadInt64(Path.Combine(refDir, "logit_rows.npy"));
        var (wantLogits, logitShape) = Npy.ReadDoubles(Path.Combine(refDir, "logits.npy"));
        int v = model.Config.VocabSize, r = (int)rowShape[0];
        Assert.Equal(rowShape[0], logitShape[0]);
        Assert.Equal(v, logitShape[1]);

        var positions = Enumerable.Range(0, sequences.Count).Select(_ => new List<int>()).ToArray();
        for (int k = 0; k < r; k++) positions[rows[2 * k]].Add((int)rows[2 * k + 1]);
        var got = new List<float>();
        var logits = new List<float>(); // the stored rows' logits, in the reference's order (sequence by sequence)
        for (int i = 0; i < sequences.Count; i += batchSize)
        {
            var batch = sequences.Skip(i).Take(batchSize).ToList();
            foreach (var s in model.ScoreAll(batch)) got.AddRange(s);
            logits.AddRange(model.Logits(batch, positions.Skip(i).Take(batchSize).Select(p => p.ToArray()).ToArray()));
        }

        Assert.Equal(wantSurprisal.Length, got.Count);
        double maxErr = 0, sumErr = 0;
        int worst = 0;
        for (int i = 0; i < got.Count; i++)
        {
            double err = Math.Abs(got[i] - wantSurprisal[i]);
            sumErr += err;
            if (err > maxErr) (maxErr, worst) = (err, i);
        }
        var summary = string.Create(CultureInfo.InvariantCulture,
            $"{Path.GetFileName(refDir)}: surprisal abs error mean {sumErr / Math.Max(1, got.Count):E2}, max {maxErr:E2} bits over {got.Count} targets");
        Assert.True(maxErr <= SurprisalAbsTol, $"{summary}; worst target {worst}: ours {got[worst]}, reference {wantSurprisal[worst]}");

        Assert.Equal(r * v, logits.Count);
        double worstRel = 0;
        string where = "";
        for (int k = 0; k < r; k++)
        {
            double maxDiff = 0, maxRef = 0;
            for (int j = 0; j < v; j++)
            {
                double want = wantLogits[(long)k * v + j];
                maxDiff = Math.Max(maxDiff, Math.Abs(logits[k * v + j] - want));
                maxRef = Math.Max(maxRef, Math.Abs(want));
            }
            double rel = maxDiff / maxRef;
            if (rel > worstRel)
            {
                worstRel = rel;
                where = $"sequence {rows[2 * k]} position {rows[2 * k + 1]}: max diff {maxDiff:E3}, max |ref| {maxRef:G4}, first logits ours " +
                        $"[{string.Join(", ", logits.Skip(k * v).Take(3))}] ref [{string.Join(", ", wantLogits.Skip(k * v).Take(3))}]";
            }
        }
        Assert.True(worstRel <= LogitRelTol, $"{refDir}: logits relative error {worstRel:E3} > {LogitRelTol:E0} at {where}");
        return summary + string.Create(CultureInfo.InvariantCulture, $"; logits max relative error {worstRel:E2}");
    }
}
