using LearningCurves.Engine.Sweeps;
using LearningCurves.Formats;
using LearningCurves.Tests.Common;
using Xunit;
using LearningCurves.Formats.IO;
using LearningCurves.Formats.Curves;

namespace LearningCurves.Engine.Tests;

public class CurveFileTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 7)]
    [InlineData(5, 1000)]
    [InlineData(2, 70_000)] // larger than one NaN fill block
    public void Created_file_is_a_valid_npy_of_nan_rows_and_rows_round_trip(int rows, int cols)
    {
        string path = Path.Combine(TestPaths.TempDir(), "s.npy");
        CurveFileWriter.Create(path, rows, cols);
        var h = Npy.ReadHeader(path);
        Assert.Equal(NpyDType.Float32, h.DType);
        Assert.False(h.FortranOrder);
        Assert.Equal([(long)rows, cols], h.Shape);
        Assert.Equal(0, h.DataOffset % 64);
        Assert.Equal(h.DataOffset + (long)rows * cols * 4, new FileInfo(path).Length);
        Assert.Equal(Npy.BuildHeader(NpyDType.Float32, [rows, cols]), File.ReadAllBytes(path).AsSpan(0, (int)h.DataOffset).ToArray());
        Assert.All(Npy.ReadFloats(path).Data, x => Assert.True(float.IsNaN(x)));

        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        var expected = new float[rows * cols];
        expected.AsSpan().Fill(float.NaN);
        using (var f = CurveFileWriter.Open(path, rows, cols))
        {
            foreach (int r in Enumerable.Range(0, rows).Where(r => r % 2 == 1 || rows == 1))
            {
                var row = Enumerable.Range(0, cols).Select(_ => (float)rng.NextDouble() * 20).ToArray();
                f.WriteRow(r, row, pauseMs: r == 1 ? 1 : 0);
                row.CopyTo(expected, r * cols);
                var back = new float[cols];
                f.ReadRow(r, back);
                Assert.Equal(CurveFileWriter.Checksum(row), CurveFileWriter.Checksum(back));
            }
        }
        var data = Npy.ReadFloats(path).Data;
        for (int i = 0; i < data.Length; i++)
        {
            Assert.True(data[i].Equals(expected[i]), $"seed {seed}: element {i}: {data[i]} != {expected[i]}");
        }
    }

    [Fact]
    public void Open_refuses_a_file_of_another_shape_or_type()
    {
        string dir = TestPaths.TempDir();
        string path = Path.Combine(dir, "s.npy");
        CurveFileWriter.Create(path, 2, 3);
        Assert.Contains("(2, 3)", Assert.Throws<UserError>(() => CurveFileWriter.Open(path, 3, 3)).Message, StringComparison.Ordinal);
        string ints = Path.Combine(dir, "i.npy");
        Npy.Write<int>(ints, new int[6], 2, 3);
        Assert.Throws<UserError>(() => CurveFileWriter.Open(ints, 2, 3));
        Assert.Throws<IOException>(() => CurveFileWriter.Create(path, 2, 3)); // never replaces a file in place
    }

    [Fact]
    public void Checksum_is_sha256_of_the_row_bytes()
    {
        Assert.Equal("sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(BitConverter.GetBytes(1.5f))),
            CurveFileWriter.Checksum([1.5f]));
        Assert.NotEqual(CurveFileWriter.Checksum([1f, 2f]), CurveFileWriter.Checksum([2f, 1f]));
    }

    [Fact]
    public void Numpy_reads_a_created_file_with_mmap()
    {
        const string py = "/usr/bin/python3";
        Assert.SkipUnless(File.Exists(py), "/usr/bin/python3 is absent");
        string path = Path.Combine(TestPaths.TempDir(), "s.npy");
        CurveFileWriter.Create(path, 3, 5);
        using (var f = CurveFileWriter.Open(path, 3, 5)) f.WriteRow(1, [1f, 2f, 3f, 4f, 5.5f]);
        var psi = new System.Diagnostics.ProcessStartInfo(py) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-c", "import numpy as np, sys; a = np.load(sys.argv[1], mmap_mode='r'); "
            + "assert a.dtype == np.float32 and a.shape == (3, 5) and np.isnan(a[0]).all() and np.isnan(a[2]).all(); print(a[1].tolist())", path })
            psi.ArgumentList.Add(a);
        using var p = System.Diagnostics.Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd(), err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.SkipWhen(err.Contains("No module named 'numpy'", StringComparison.Ordinal), "numpy is not installed for /usr/bin/python3");
        Assert.True(p.ExitCode == 0, err);
        Assert.Equal("[1.0, 2.0, 3.0, 4.0, 5.5]", output.Trim());
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(3, 7, 2)]
    [InlineData(9, 37, 5)]     // vector remainders; blocks that do not divide the examples
    [InlineData(4, 1000, 4096)]
    public void Reader_gives_back_what_the_writer_wrote_in_every_layout_and_dtype(int checkpoints, int examples, int block)
    {
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        var dir = TestPaths.TempDir();
        var rows = Enumerable.Range(0, checkpoints).Select(_ => Enumerable.Range(0, examples).Select(_ => (float)(rng.NextDouble() * 16)).ToArray()).ToArray();
        string sweep = Path.Combine(dir, "surprisal.npy");
        CurveFileWriter.Create(sweep, checkpoints, examples);
        using (var w = CurveFileWriter.Open(sweep, checkpoints, examples))
            for (int k = 0; k < checkpoints; k++) w.WriteRow(k, rows[k]);
        // The same values as float64 (checkpoints, examples) and float32 (examples, checkpoints).
        var flat64 = rows.SelectMany(r => r.Select(v => (double)v)).ToArray();
        string f64 = Path.Combine(dir, "f64.npy");
        Npy.Write<double>(f64, flat64, checkpoints, examples);
        var transposed = new float[checkpoints * examples];
        for (int k = 0; k < checkpoints; k++)
            for (int e = 0; e < examples; e++) transposed[e * checkpoints + k] = rows[k][e];
        string ef = Path.Combine(dir, "ef.npy");
        Npy.Write<float>(ef, transposed, examples, checkpoints);

        foreach (var (path, layout) in new[] { (sweep, CurveLayout.CheckpointsFirst), (f64, CurveLayout.CheckpointsFirst), (ef, CurveLayout.ExamplesFirst) })
        {
            using var r = new CurveFileReader(path, layout, 0);
            Assert.Equal((checkpoints, examples), (r.Checkpoints, r.Examples));
            var back = r.ReadCheckpoints(block: block);
            for (int k = 0; k < checkpoints; k++)
            {
                int bad = Enumerable.Range(0, examples).Where(i => back[k][i] != rows[k][i]).DefaultIfEmpty(-1).First();
                Assert.True(bad < 0, $"seed {seed}, {Path.GetFileName(path)}: checkpoint {k} example {bad}: {(bad < 0 ? 0f : back[k][bad])} vs {(bad < 0 ? 0f : rows[k][bad])}");
            }
        }
    }

    [Fact]
    public void Reader_names_the_first_non_finite_value_unless_told_to_allow_them()
    {
        string path = Path.Combine(TestPaths.TempDir(), "s.npy");
        CurveFileWriter.Create(path, 3, 11);
        using (var w = CurveFileWriter.Open(path, 3, 11))
        {
            w.WriteRow(0, Enumerable.Range(0, 11).Select(i => (float)i).ToArray());
            var row = Enumerable.Range(0, 11).Select(i => (float)i).ToArray();
            row[9] = float.PositiveInfinity;
            w.WriteRow(1, row);
        } // row 2 stays NaN (pending)
        using var r = new CurveFileReader(path, CurveLayout.CheckpointsFirst, 4);
        var e = Assert.Throws<NonFiniteCurveError>(() => r.ReadCheckpoints());
        Assert.Equal((4, 9, 1), (e.Run, e.Example, e.Checkpoint));
        var all = r.ReadCheckpoints(allowNonFinite: true);
        Assert.Equal(10f, all[0][10]);
        Assert.True(float.IsPositiveInfinity(all[1][9]));
        Assert.All(all[2], v => Assert.True(float.IsNaN(v)));
    }

    [Theory]
    [InlineData(6, 1, 17)]
    [InlineData(5, 3, 1000)]
    public void Kept_checkpoints_read_whole_or_loaded_match_block_reads_of_the_file(int checkpoints, int block, int examples)
    {
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        string dir = TestPaths.TempDir();
        var rows = Enumerable.Range(0, checkpoints).Select(_ => Enumerable.Range(0, examples).Select(_ => (float)(rng.NextDouble() * 16)).ToArray()).ToArray();
        string path = Path.Combine(dir, "surprisal.npy");
        CurveFileWriter.Create(path, checkpoints, examples);
        using (var w = CurveFileWriter.Open(path, checkpoints, examples))
            for (int k = 0; k < checkpoints; k++) w.WriteRow(k, rows[k]);
        int[] keep = [.. Enumerable.Range(0, checkpoints).Where(k => k % 2 == 0 || k == checkpoints - 1)];
        using var file = new CurveFileReader(path, CurveLayout.CheckpointsFirst, 2, keep);
        Assert.Equal((keep.Length, checkpoints), (file.Checkpoints, file.StoredCheckpoints));
        var whole = file.ReadCheckpoints();
        for (int j = 0; j < keep.Length; j++)
            Assert.True(whole[j].AsSpan().SequenceEqual(rows[keep[j]]), $"seed {seed}: kept checkpoint {j} is not the file's row {keep[j]}");
        var loaded = LoadedCurves.Read(file);
        Assert.Equal((file.Path, file.Run, file.Checkpoints, file.Examples), (loaded.Path, loaded.Run, loaded.Checkpoints, loaded.Examples));
        var a = new double[keep.Length * block];
        var b = new double[keep.Length * block];
        var scratch = new byte[file.ScratchBytes(block)];
        for (int e0 = 0; e0 < examples; e0 += block)
        {
            int n = Math.Min(block, examples - e0);
            file.ReadBlock(e0, n, a, block, scratch);
            loaded.ReadBlock(e0, n, b, block, []);
            Assert.True(a.AsSpan().SequenceEqual(b), $"seed {seed}: block at example {e0} differs");
        }
    }

    [Fact]
    public void Loaded_curves_report_a_non_finite_value_as_the_file_does()
    {
        string path = Path.Combine(TestPaths.TempDir(), "s.npy");
        CurveFileWriter.Create(path, 3, 11);
        using (var w = CurveFileWriter.Open(path, 3, 11))
        {
            w.WriteRow(0, Enumerable.Range(0, 11).Select(i => (float)i).ToArray());
            var row = Enumerable.Range(0, 11).Select(i => (float)i).ToArray();
            row[9] = float.NaN;
            w.WriteRow(1, row);
            w.WriteRow(2, Enumerable.Range(0, 11).Select(i => (float)i).ToArray());
        }
        using var file = new CurveFileReader(path, CurveLayout.CheckpointsFirst, 1);
        var loaded = LoadedCurves.Read(file);
        var dst = new double[3 * 11];
        var fromFile = Assert.Throws<NonFiniteCurveError>(() => file.ReadBlock(0, 11, dst, 11, new byte[file.ScratchBytes(11)]));
        var fromMemory = Assert.Throws<NonFiniteCurveError>(() => loaded.ReadBlock(0, 11, dst, 11, []));
        Assert.Equal(fromFile.Message, fromMemory.Message);
        Assert.Equal((1, 9, 1), (fromMemory.Run, fromMemory.Example, fromMemory.Checkpoint));
    }
}
