using System.Runtime.InteropServices;
using LearningCurves.Formats;
using LearningCurves.Formats.IO;

namespace LearningCurves.Analysis.Umap;

/// <summary>
/// The 2-D UMAP embedding of the smoothed learning curves, as the paper's annotation step makes it: each example's
/// smoothed curve (metrics' <c>smoothed.npy</c>, averaged over runs) is a point in R^n (n = checkpoints with step &gt; 0,
/// in bits); the embedding goes to <c>umap.npy</c>, float32 (examples, 2), beside the metrics.
/// </summary>
public static class CurveEmbedding
{
    public const string File = "umap.npy";

    /// <summary>The run-averaged smoothed curves (examples x n, row-major) of a metrics folder's smoothed.npy, whose
    /// layout is (runs, n, examples) or (runs, examples, n): the one whose examples axis has <paramref name="examples"/>
    /// entries (<paramref name="examplesFirst"/> decides when both do).</summary>
    public static (float[] Curves, int N) ReadSmoothed(string path, int examples, bool examplesFirst)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!System.IO.File.Exists(path)) throw UserError.InFile(path, "missing: run the metrics stage first");
        using var s = System.IO.File.OpenRead(path);
        var h = Npy.ReadHeader(s, path);
        if (h.DType != NpyDType.Float32 || h.Shape.Length != 3 || h.FortranOrder)
            throw UserError.InFile(path, $"expected float32 (runs, n, examples) or (runs, examples, n) in C order, found {h.DType} ({string.Join(", ", h.Shape)})");
        int runs = checked((int)h.Shape[0]);
        bool exFirst = h.Shape[1] == examples && (h.Shape[2] != examples || examplesFirst);
        if (!exFirst && h.Shape[2] != examples) throw UserError.InFile(path, $"no axis of ({string.Join(", ", h.Shape)}) has the {examples} examples");
        int n = checked((int)(exFirst ? h.Shape[2] : h.Shape[1]));
        var sum = new float[checked((long)examples * n)];
        var block = new float[(long)examples * n];
        s.Position = h.DataOffset;
        for (int r = 0; r < runs; r++)
        {
            var bytes = MemoryMarshal.AsBytes(block.AsSpan());
            int got = 0;
            while (got < bytes.Length)
            {
                int k = s.Read(bytes[got..]);
                if (k == 0) throw UserError.InFile(path, "truncated data");
                got += k;
            }
            if (exFirst)
            {
                for (long i = 0; i < block.Length; i++) sum[i] += block[i];
            }
            else
            {
                for (int c = 0; c < n; c++)
                for (int e = 0; e < examples; e++) sum[(long)e * n + c] += block[(long)c * examples + e];
            }
        }
        for (long i = 0; i < sum.Length; i++) sum[i] /= runs;
        return (sum, n);
    }

    /// <summary>Embeds the curves of <paramref name="metricsDir"/>/smoothed.npy and writes <paramref name="metricsDir"/>/umap.npy.</summary>
    public static UmapTimings Run(string metricsDir, int examples, bool examplesFirst, UmapOptions options, TextWriter? log = null)
    {
        ArgumentNullException.ThrowIfNull(metricsDir);
        ArgumentNullException.ThrowIfNull(options);
        var (curves, n) = ReadSmoothed(Path.Combine(metricsDir, "smoothed.npy"), examples, examplesFirst);
        if (examples < 3) throw new UserError($"umap: {examples} example(s); an embedding needs at least 3");
        var y = Umap.Embed(curves, examples, n, options, out var t);
        Npy.Write<float>(Path.Combine(metricsDir, File), y, examples, 2);
        log?.WriteLine($"umap: {examples} curves of {n} points -> {Path.Combine(metricsDir, File)} ({(t.ExactKnn ? "exact" : "approximate")} {options.Neighbors}-NN graph {t.Knn:F1} s, fuzzy set {t.Graph:F1} s, {t.Epochs} epochs over {t.Edges} edges {t.Layout:F1} s)");
        return t;
    }
}
