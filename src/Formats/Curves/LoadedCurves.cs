namespace LearningCurves.Formats.Curves;

/// <summary>
/// One run's curves held in memory, one float array per checkpoint (checkpoints first): read once from a curve file and
/// then used by every stage that needs them (the analysis' metrics, learning phases and gallery), so the file is read
/// once. Blocks are read as from the file, with the same non-finite check and message.
/// </summary>
public sealed class LoadedCurves : ICurveBlocks
{
    private LoadedCurves(string path, int run, float[][] rows, int examples)
    {
        Path = path;
        Run = run;
        Rows = rows;
        Examples = examples;
    }

    /// <summary>Reads every visible checkpoint of <paramref name="file"/> (float64 values rounded to float32); non-finite
    /// values are kept, and reported when a block holding one is read.</summary>
    public static LoadedCurves Read(CurveFileReader file)
    {
        ArgumentNullException.ThrowIfNull(file);
        if (file.Layout != CurveLayout.CheckpointsFirst) throw new ArgumentException("only checkpoints-first curves are loaded", nameof(file));
        return new LoadedCurves(file.Path, file.Run, file.ReadCheckpoints(allowNonFinite: true), file.Examples);
    }

    public string Path { get; }

    public int Run { get; }

    public CurveLayout Layout => CurveLayout.CheckpointsFirst;

    public int Checkpoints => Rows.Count;

    public int Examples { get; }

    /// <summary>Each checkpoint's values, indexed by example.</summary>
    public IReadOnlyList<float[]> Rows { get; }

    public int ScratchBytes(int count) => 0;

    public void ReadBlock(int first, int count, Span<double> dst, int ld, byte[] scratch)
    {
        if (first < 0 || count < 0 || first + count > Examples) throw new ArgumentOutOfRangeException(nameof(first));
        if (ld < count || dst.Length < (long)(Checkpoints - 1) * ld + count) throw new ArgumentException("dst is too short", nameof(dst));
        if (count == 0) return;
        for (int j = 0; j < Rows.Count; j++)
        {
            var src = Rows[j].AsSpan(first, count);
            var row = dst.Slice(j * ld, count);
            for (int c = 0; c < count; c++) row[c] = src[c];
        }
        CurveFileReader.CheckFinite(Path, Run, Checkpoints, first, count, dst, ld);
    }
}
