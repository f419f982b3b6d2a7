using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using LearningCurves.Formats.IO;

namespace LearningCurves.Formats.Curves;

/// <summary>How a run's 2-D curve array is laid out.</summary>
public enum CurveLayout
{
    /// <summary>[checkpoints, examples] (the sweep's surprisal.npy).</summary>
    CheckpointsFirst,

    /// <summary>[examples, checkpoints] (e.g. the paper's surprisal_curves.npy).</summary>
    ExamplesFirst,
}

/// <summary>One run's curves, read in blocks of examples: from a file (<see cref="CurveFileReader"/>) or from memory
/// (<see cref="LoadedCurves"/>).</summary>
public interface ICurveBlocks
{
    /// <summary>Where the curves come from, for messages.</summary>
    string Path { get; }

    /// <summary>0-based run number, for messages.</summary>
    int Run { get; }

    CurveLayout Layout { get; }

    int Checkpoints { get; }

    int Examples { get; }

    /// <summary>Bytes of scratch <see cref="ReadBlock"/> needs for <paramref name="count"/> examples.</summary>
    int ScratchBytes(int count);

    /// <summary>
    /// Reads examples [first, first + count) into <paramref name="dst"/> point-major: dst[k * ld + c] = value of example
    /// first + c at checkpoint k. Throws <see cref="NonFiniteCurveError"/> naming run, example and checkpoint of the
    /// first non-finite value.
    /// </summary>
    void ReadBlock(int first, int count, Span<double> dst, int ld, byte[] scratch);
}

/// <summary>
/// One run's curves in a 2-D float32/float64 .npy, read in blocks of examples with positional reads (no whole-file
/// load, no memory map, so memory stays at the block size however large the file). Thread-safe: reads share no
/// position state. The sweep writes these files with <see cref="CurveFileWriter"/>.
/// </summary>
public sealed class CurveFileReader : ICurveBlocks, IDisposable
{
    private readonly SafeFileHandle _handle;
    private readonly long _dataOffset;
    private readonly int _itemSize;
    private readonly bool _isFloat32;
    private readonly bool _examplesMajor; // storage order: true when an example's checkpoints are contiguous
    private readonly int _stored;         // checkpoints in the file
    private readonly int[]? _keep;        // the file's checkpoint of each visible one; null: all

    /// <summary>Opens <paramref name="path"/> and checks its header (2-D, float32 or float64).</summary>
    public CurveFileReader(string path, CurveLayout layout, int run) : this(path, layout, run, null)
    {
    }

    /// <summary>As the other constructor, showing only the file's checkpoints <paramref name="keep"/> (increasing
    /// indices; null: all), e.g. without rows marked duplicate_of by the sweep.</summary>
    public CurveFileReader(string path, CurveLayout layout, int run, IReadOnlyList<int>? keep)
    {
        ArgumentNullException.ThrowIfNull(path);
        Path = path;
        Run = run;
        Layout = layout;
        if (!File.Exists(path)) throw UserError.InFile(path, "no such file");
        var h = Npy.ReadHeader(path);
        if (h.DType is not (NpyDType.Float32 or NpyDType.Float64))
            throw UserError.InFile(path, $"curves must be float32 or float64, found {Npy.Descr(h.DType)}");
        if (h.Shape.Length != 2)
            throw UserError.InFile(path, $"curves must be a 2-D array ({(layout == CurveLayout.CheckpointsFirst ? "checkpoints, examples" : "examples, checkpoints")}), found shape ({string.Join(", ", h.Shape)})");
        long rows = h.Shape[0], cols = h.Shape[1];
        (long checkpoints, long examples) = layout == CurveLayout.CheckpointsFirst ? (rows, cols) : (cols, rows);
        if (checkpoints > int.MaxValue || examples > int.MaxValue) throw UserError.InFile(path, "array too large");
        _stored = (int)checkpoints;
        if (keep is not null)
        {
            for (int i = 0; i < keep.Count; i++)
            {
                if (keep[i] < 0 || keep[i] >= _stored || (i > 0 && keep[i] <= keep[i - 1]))
                    throw new ArgumentException($"kept checkpoint {keep[i]} is out of order or outside 0..{_stored - 1}", nameof(keep));
            }
            _keep = keep.ToArray();
        }
        Checkpoints = _keep?.Length ?? _stored;
        Examples = (int)examples;
        // A Fortran-order array stores its transpose in C order.
        _examplesMajor = (layout == CurveLayout.ExamplesFirst) ^ h.FortranOrder;
        _dataOffset = h.DataOffset;
        _itemSize = h.ItemSize;
        _isFloat32 = h.DType == NpyDType.Float32;
        _handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
    }

    public string Path { get; }

    /// <summary>0-based run number, for messages.</summary>
    public int Run { get; }

    public CurveLayout Layout { get; }

    public int Checkpoints { get; }

    public int Examples { get; }

    /// <summary>Checkpoints in the file, kept or not.</summary>
    public int StoredCheckpoints => _stored;

    /// <summary>Bytes of scratch <see cref="ReadBlock"/> needs for <paramref name="count"/> examples.</summary>
    public int ScratchBytes(int count) => checked(count * (_examplesMajor ? _stored : Checkpoints) * _itemSize);

    /// <summary>
    /// Reads examples [first, first + count) into <paramref name="dst"/> point-major: dst[k * ld + c] = value of example
    /// first + c at checkpoint k. Throws <see cref="UserError"/> naming run, example and checkpoint of the first
    /// non-finite value.
    /// </summary>
    public void ReadBlock(int first, int count, Span<double> dst, int ld, byte[] scratch)
    {
        ReadBlockValues(first, count, dst, ld, scratch);
        if (count > 0) CheckFinite(Path, Run, Checkpoints, first, count, dst, ld);
    }

    private void ReadBlockValues(int first, int count, Span<double> dst, int ld, byte[] scratch)
    {
        ArgumentNullException.ThrowIfNull(scratch);
        if (first < 0 || count < 0 || first + count > Examples) throw new ArgumentOutOfRangeException(nameof(first));
        if (ld < count || dst.Length < (long)(Checkpoints - 1) * ld + count) throw new ArgumentException("dst is too short", nameof(dst));
        if (count == 0) return;
        int k = Checkpoints, ks = _stored;
        var raw = scratch.AsSpan(0, ScratchBytes(count));
        if (_examplesMajor)
        {
            ReadExactly(raw, _dataOffset + (long)first * ks * _itemSize);
            // (count, K) in the file -> (K, count) in dst
            if (_isFloat32)
            {
                var f = MemoryMarshal.Cast<byte, float>(raw);
                for (int c = 0; c < count; c++)
                    for (int j = 0; j < k; j++) dst[j * ld + c] = f[c * ks + (_keep?[j] ?? j)];
            }
            else
            {
                var d = MemoryMarshal.Cast<byte, double>(raw);
                for (int c = 0; c < count; c++)
                    for (int j = 0; j < k; j++) dst[j * ld + c] = d[c * ks + (_keep?[j] ?? j)];
            }
        }
        else
        {
            int rowBytes = count * _itemSize;
            for (int j = 0; j < k; j++)
            {
                var part = raw.Slice(j * rowBytes, rowBytes);
                ReadExactly(part, _dataOffset + ((long)(_keep?[j] ?? j) * Examples + first) * _itemSize);
                var row = dst.Slice(j * ld, count);
                if (_isFloat32)
                {
                    var f = MemoryMarshal.Cast<byte, float>(part);
                    for (int c = 0; c < count; c++) row[c] = f[c];
                }
                else
                {
                    MemoryMarshal.Cast<byte, double>(part).CopyTo(row);
                }
            }
        }
    }

    /// <summary>
    /// Every checkpoint's values of every example, one float array per checkpoint (the analysis' gallery and learning
    /// phases use whole curves). Read in blocks of <paramref name="block"/> examples, so the double scratch stays at the
    /// block size; float32 values come back exactly, float64 ones rounded to float32. Non-finite values throw
    /// <see cref="NonFiniteCurveError"/> as in <see cref="ReadBlock"/> unless <paramref name="allowNonFinite"/> (a
    /// summary of a sweep that may still have pending, NaN, rows).
    /// </summary>
    public float[][] ReadCheckpoints(bool allowNonFinite = false, int block = 65536)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(block, 1);
        var rows = new float[Checkpoints][];
        for (int k = 0; k < Checkpoints; k++) rows[k] = new float[Examples];
        if (_isFloat32 && !_examplesMajor)
        {
            // The sweep's own layout: each checkpoint's row is one contiguous float32 range, read straight into place.
            for (int k = 0; k < Checkpoints; k++)
            {
                ReadExactly(MemoryMarshal.AsBytes(rows[k].AsSpan()), _dataOffset + (long)(_keep?[k] ?? k) * Examples * sizeof(float));
                if (!allowNonFinite && !AllFinite(rows[k]))
                {
                    int e = Array.FindIndex(rows[k], v => !float.IsFinite(v));
                    throw new NonFiniteCurveError(Path, Run, e, k, rows[k][e]);
                }
            }
            return rows;
        }
        int b = Math.Max(1, Math.Min(block, Examples));
        var dst = new double[(long)Checkpoints * b];
        var scratch = new byte[ScratchBytes(b)];
        for (int first = 0; first < Examples; first += b)
        {
            int count = Math.Min(b, Examples - first);
            if (allowNonFinite) ReadBlockValues(first, count, dst, count, scratch);
            else ReadBlock(first, count, dst, count, scratch);
            for (int k = 0; k < Checkpoints; k++)
            {
                var src = dst.AsSpan(k * count, count);
                var row = rows[k].AsSpan(first, count);
                for (int c = 0; c < count; c++) row[c] = (float)src[c];
            }
        }
        return rows;
    }

    internal static void CheckFinite(string path, int run, int checkpoints, int first, int count, ReadOnlySpan<double> dst, int ld)
    {
        // A cheap all-finite test per checkpoint row; only a failing row is searched for the example.
        int badExample = int.MaxValue, badCheckpoint = -1;
        double badValue = 0;
        for (int j = 0; j < checkpoints; j++)
        {
            var row = dst.Slice(j * ld, count);
            if (AllFinite(row)) continue;
            for (int c = 0; c < count && c < badExample; c++)
            {
                if (!double.IsFinite(row[c]))
                {
                    badExample = c;
                    badCheckpoint = j;
                    badValue = row[c];
                    break;
                }
            }
        }
        if (badCheckpoint >= 0)
            throw new NonFiniteCurveError(path, run, first + badExample, badCheckpoint, badValue);
    }

    private static bool AllFinite(ReadOnlySpan<float> row)
    {
        // As for doubles below, vectorised: v - v is 0 for finite v and NaN otherwise.
        var acc = System.Numerics.Vector<float>.Zero;
        int n = System.Numerics.Vector<float>.Count, i = 0;
        for (; i <= row.Length - n; i += n)
        {
            var v = new System.Numerics.Vector<float>(row.Slice(i, n));
            acc += v - v;
        }
        float tail = 0;
        for (; i < row.Length; i++) tail += row[i] - row[i];
        return System.Numerics.Vector.Sum(acc) == 0 && tail == 0;
    }

    private static bool AllFinite(ReadOnlySpan<double> row)
    {
        // x - x is 0 for finite x and NaN for NaN or infinity; any NaN makes the sum NaN.
        double acc = 0;
        foreach (double v in row) acc += v - v;
        return acc == 0;
    }

    private void ReadExactly(Span<byte> buffer, long offset)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int n = RandomAccess.Read(_handle, buffer[done..], offset + done);
            if (n == 0) throw UserError.InFile(Path, "truncated data");
            done += n;
        }
    }

    public void Dispose() => _handle.Dispose();
}

/// <summary>A NaN or infinity in the curves, located by run, example and checkpoint (all 0-based).</summary>
public sealed class NonFiniteCurveError : UserError
{
    public NonFiniteCurveError(string path, int run, int example, int checkpoint, double value)
        : base($"{path}: non-finite value {value} at run {run}, example {example}, checkpoint {checkpoint}")
    {
        Run = run;
        Example = example;
        Checkpoint = checkpoint;
    }

    public int Run { get; }

    public int Example { get; }

    public int Checkpoint { get; }
}
