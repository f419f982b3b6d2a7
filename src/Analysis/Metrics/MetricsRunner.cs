using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using LearningCurves.Analysis.Smoothing;
using LearningCurves.Formats;
using Microsoft.Win32.SafeHandles;
using LearningCurves.Formats.IO;
using LearningCurves.Formats.Curves;

namespace LearningCurves.Analysis.Metrics;

/// <summary>How age of acquisition is read off a curve.</summary>
public enum AoaMethod
{
    /// <summary>First point of the GAM-smoothed curve's 1000-point grid at or below the threshold.</summary>
    Gam,

    /// <summary>Crossing of the threshold by a 4-parameter logistic fitted to the raw curve, clipped to the x range.</summary>
    Sigmoid,
}

/// <summary>Settings of <see cref="MetricsRunner"/>.</summary>
public sealed record MetricsOptions
{
    /// <summary>The GPT-2 tokenizer's vocabulary (50257 tokens), the default chance level log2(V).</summary>
    public const int Gpt2VocabSize = 50257;

    /// <summary>Checkpoints at the end over which final surprisal and within-run variability are taken.</summary>
    public int Last { get; init; } = 11;

    /// <summary>Chance surprisal in bits, log2 of the real vocabulary size.</summary>
    public double ChanceBits { get; init; } = Math.Log2(Gpt2VocabSize);

    public AoaMethod Aoa { get; init; } = AoaMethod.Gam;

    /// <summary>Examples read and written per I/O block (all runs at once).</summary>
    public int BlockExamples { get; init; } = 4096;

    /// <summary>Parallel workers (each holds one block of every run).</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;
}

/// <summary>What a run of the metrics did.</summary>
public sealed record MetricsSummary(int Runs, int Examples, int Checkpoints, int SmoothedPoints, double ChanceBits, TimeSpan Elapsed, long[] LambdaCounts);

/// <summary>
/// The learning-curve metrics of Chang, Tu &amp; Bergen (TACL 2024) over one or more runs' curve files, streamed in
/// blocks of examples (all runs of a block together, for cross-run variability) and written to
/// <c>per_run.csv</c>, <c>examples.csv</c> and <c>smoothed.npy</c>. Units are those of the curves (bits);
/// x = log10(step) over the checkpoints with a positive step.
/// <list type="bullet">
/// <item>final surprisal: mean of the raw curve over the last K checkpoints; within-run variability: their population
/// standard deviation;</item>
/// <item>GAM smoothing by <see cref="SplineSmoother"/> (pyGAM-exact), AoA on its 1000-point grid with threshold
/// 0.5 chance + 0.5 min (AoA = last x where that threshold is at or above chance), or by a fitted logistic;</item>
/// <item>forgettability: sum of the rises of the smoothed curve between consecutive checkpoints;</item>
/// <item>cross-run variability: mean over run pairs of the mean squared difference of the smoothed curves.</item>
/// </list>
/// </summary>
public static class MetricsRunner
{
    public const string PerRunFile = "per_run.csv";
    public const string ExamplesFile = "examples.csv";
    public const string SmoothedFile = "smoothed.npy";

    /// <summary>The header of <see cref="PerRunFile"/>.</summary>
    public static string PerRunHeader => MetricTables.PerRunHeader;

    /// <summary>The header of <see cref="ExamplesFile"/>.</summary>
    public static string ExamplesHeader => MetricTables.ExamplesHeader;

    // Curves smoothed per call: small enough that a block's working set stays in cache.
    private const int SubBlock = 256;

    /// <summary>Runs the metrics on curve files (one per run, all the same shape) and writes OUT.</summary>
    /// <remarks><paramref name="keepCheckpoints"/>: the checkpoints (file rows) to use, e.g. without duplicates; null: all.
    /// <paramref name="steps"/> are those of the kept checkpoints.</remarks>
    public static MetricsSummary Run(IReadOnlyList<string> curvePaths, CurveLayout layout, string stepsPath, long[] steps,
        MetricsOptions options, string outDir, TextWriter? log = null, IReadOnlyList<int>? keepCheckpoints = null)
    {
        ArgumentNullException.ThrowIfNull(curvePaths);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(outDir);
        ArgumentNullException.ThrowIfNull(steps);
        if (curvePaths.Count == 0) throw new UserError("metrics: no curve files given");
        var files = new List<CurveFileReader>();
        try
        {
            for (int r = 0; r < curvePaths.Count; r++) files.Add(new CurveFileReader(curvePaths[r], layout, r, keepCheckpoints));
            return Run(files, stepsPath, steps, options, outDir, log);
        }
        finally
        {
            foreach (var f in files) f.Dispose();
        }
    }

    /// <summary>Runs the metrics on opened curves and writes OUT.</summary>
    public static MetricsSummary Run(IReadOnlyList<ICurveBlocks> files, string stepsPath, long[] steps, MetricsOptions options,
        string outDir, TextWriter? log = null) =>
        Run(files, stepsPath, steps, options, outDir, log, out _);

    /// <summary>Runs the metrics on opened curves, writes OUT (<see cref="SmoothedFile"/> as the curves are smoothed,
    /// then the tables of <see cref="MetricTables"/>) and returns the metrics themselves in <paramref name="results"/>.</summary>
    public static MetricsSummary Run(IReadOnlyList<ICurveBlocks> files, string stepsPath, long[] steps, MetricsOptions options,
        string outDir, TextWriter? log, out MetricResults results)
    {
        ArgumentNullException.ThrowIfNull(outDir);
        var clock = Stopwatch.StartNew();
        var plan = Plan(files, stepsPath, steps, options);
        Directory.CreateDirectory(outDir);
        string smoothedPath = Path.Combine(outDir, SmoothedFile);
        string perRunPath = Path.Combine(outDir, PerRunFile), examplesPath = Path.Combine(outDir, ExamplesFile);
        string smoothedTmp = TempName(smoothedPath), perRunTmp = TempName(perRunPath), examplesTmp = TempName(examplesPath);
        long[] lambdaCounts;
        try
        {
            using (var smoothed = new SmoothedCurvesFile(smoothedTmp, plan))
            {
                (results, lambdaCounts) = Compute(files, plan, options, smoothed);
                smoothed.Flush();
            }
            log?.WriteLine($"metrics: {plan.Runs} run(s) x {plan.Examples} examples x {plan.Checkpoints} checkpoints smoothed in {clock.Elapsed.TotalSeconds:F1} s; writing tables");
            MetricTables.WritePerRun(results, perRunTmp, options.Threads);
            MetricTables.WriteExamples(results, examplesTmp, options.Threads);
            File.Move(smoothedTmp, smoothedPath, overwrite: true);
            File.Move(perRunTmp, perRunPath, overwrite: true);
            File.Move(examplesTmp, examplesPath, overwrite: true);
        }
        finally
        {
            foreach (var t in new[] { smoothedTmp, perRunTmp, examplesTmp })
                if (File.Exists(t)) File.Delete(t);
        }
        return new MetricsSummary(plan.Runs, plan.Examples, plan.Checkpoints, plan.Points, options.ChanceBits, clock.Elapsed, lambdaCounts);
    }

    /// <summary>The checked shape of a metrics run: runs x examples x checkpoints, the first checkpoint with a positive
    /// step, and the smoother over x = log10(step) of the checkpoints from there on.</summary>
    internal sealed record MetricsPlan(int Runs, int Examples, int Checkpoints, int First, SplineSmoother Smoother, CurveLayout Layout)
    {
        /// <summary>Points of each smoothed curve.</summary>
        public int Points => Checkpoints - First;

        /// <summary>The shape of <see cref="SmoothedFile"/>: (runs, points, examples) or (runs, examples, points).</summary>
        public long[] SmoothedShape => Layout == CurveLayout.CheckpointsFirst ? [Runs, Points, Examples] : [Runs, Examples, Points];
    }

    /// <summary>Every run's curves have run 0's shape, or a <see cref="UserError"/> names the first that does not.</summary>
    public static void CheckSameShape(IReadOnlyList<ICurveBlocks> files)
    {
        ArgumentNullException.ThrowIfNull(files);
        var f0 = files[0];
        foreach (var f in files)
            if (f.Checkpoints != f0.Checkpoints || f.Examples != f0.Examples)
                throw UserError.InFile(f.Path, $"shape ({f.Checkpoints} checkpoints, {f.Examples} examples) differs from run 0's ({f0.Checkpoints}, {f0.Examples}) in {f0.Path}");
    }

    private static MetricsPlan Plan(IReadOnlyList<ICurveBlocks> files, string stepsPath, long[] steps, MetricsOptions options)
    {
        ArgumentNullException.ThrowIfNull(files);
        ArgumentNullException.ThrowIfNull(options);
        CheckSameShape(files);
        var f0 = files[0];
        int k = f0.Checkpoints, e = f0.Examples, runs = files.Count;
        int first = MetricsInputs.CheckSteps(stepsPath, steps, k);
        if (options.Last < 1 || options.Last > k) throw new UserError($"metrics: --last must be in 1..{k} (got {options.Last})");
        if (!double.IsFinite(options.ChanceBits)) throw new UserError("metrics: chance surprisal must be finite");
        int n = k - first;
        if (options.Aoa == AoaMethod.Sigmoid && n < 4) throw new UserError("metrics: --aoa sigmoid needs at least 4 checkpoints with a positive step");
        var x = new double[n];
        for (int i = 0; i < n; i++) x[i] = Math.Log10(steps[first + i]);
        return new MetricsPlan(runs, e, k, first, new SplineSmoother(x), f0.Layout);
    }

    /// <summary>The metrics of every example of every run, in blocks of examples on parallel workers; each block's
    /// smoothed curves go to <paramref name="smoothed"/>. Returns the metrics and how often each smoothing penalty won.</summary>
    private static (MetricResults Results, long[] LambdaCounts) Compute(IReadOnlyList<ICurveBlocks> files, MetricsPlan plan,
        MetricsOptions options, SmoothedCurvesFile smoothed)
    {
        int e = plan.Examples;
        var res = new MetricResults(plan.Runs, e);
        var lambdaCounts = new long[plan.Smoother.Lambdas.Count];
        int bio = Math.Clamp(options.BlockExamples, 1, Math.Max(1, e));
        int blocks = (e + bio - 1) / bio;
        NonFiniteCurveError? firstBad = null;
        var gate = new object();
        if (e > 0)
        {
            try
            {
                Parallel.For(0, blocks, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, options.Threads) },
                    () => new Worker(files, plan.Smoother, bio, plan.First, options),
                    (b, state, w) =>
                    {
                        int e0 = b * bio, count = Math.Min(bio, e - e0);
                        try
                        {
                            w.Process(e0, count, res, smoothed);
                        }
                        catch (NonFiniteCurveError bad)
                        {
                            // Break (not Stop) lets every lower block finish, so the error reported is always the one
                            // in the lowest block with a bad value: the same message on every run, whatever the timing.
                            lock (gate)
                            {
                                if (firstBad is null || (bad.Example, bad.Run, bad.Checkpoint).CompareTo((firstBad.Example, firstBad.Run, firstBad.Checkpoint)) < 0)
                                    firstBad = bad;
                            }
                            state.Break();
                        }
                        return w;
                    },
                    w =>
                    {
                        lock (gate)
                            for (int i = 0; i < lambdaCounts.Length; i++) lambdaCounts[i] += w.LambdaCounts[i];
                    });
            }
            catch (AggregateException agg) when (agg.InnerExceptions.Count > 0 && agg.InnerExceptions.All(x => x is UserError or IOException))
            {
                // A worker's unreadable file is the user's problem: report it as such, not as a crash.
                throw agg.InnerExceptions[0] is UserError u ? u : new UserError(agg.InnerExceptions[0].Message, agg.InnerExceptions[0]);
            }
        }
        if (firstBad is not null) throw firstBad;
        return (res, lambdaCounts);
    }

    private static string TempName(string path) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, $".{Path.GetFileName(path)}.{Environment.ProcessId}.tmp");

    /// <summary>smoothed.npy under a temporary name, preallocated, filled block by block from the workers with
    /// positional writes.</summary>
    internal sealed class SmoothedCurvesFile : IDisposable
    {
        private readonly SafeFileHandle _handle;
        private readonly long _dataOffset;
        private readonly long[] _shape;
        private readonly bool _checkpointsFirst;

        public SmoothedCurvesFile(string path, MetricsPlan plan)
        {
            _shape = plan.SmoothedShape;
            _checkpointsFirst = plan.Layout == CurveLayout.CheckpointsFirst;
            var header = Npy.BuildHeader(NpyDType.Float32, _shape);
            long length = header.Length + 4L * plan.Runs * plan.Points * plan.Examples;
            _handle = File.OpenHandle(path, FileMode.Create, FileAccess.ReadWrite, FileShare.None, FileOptions.None, preallocationSize: length);
            RandomAccess.Write(_handle, header, 0);
            RandomAccess.SetLength(_handle, length);
            _dataOffset = header.Length;
        }

        /// <summary>Run <paramref name="run"/>'s smoothed curves of examples [e0, e0 + count): point-major rows of
        /// <paramref name="ld"/> (checkpoints first) or example-major rows of the points.</summary>
        public void Write(int run, int e0, int count, float[] values, int ld)
        {
            if (_checkpointsFirst)
            {
                for (int i = 0; i < _shape[1]; i++)
                    RandomAccess.Write(_handle, MemoryMarshal.AsBytes(values.AsSpan(i * ld, count)),
                        _dataOffset + 4L * (((long)run * _shape[1] + i) * _shape[2] + e0));
            }
            else
            {
                RandomAccess.Write(_handle, MemoryMarshal.AsBytes(values.AsSpan(0, count * (int)_shape[2])),
                    _dataOffset + 4L * ((long)run * _shape[1] + e0) * _shape[2]);
            }
        }

        /// <summary>The data reaches the disk before the rename makes the file visible under its real name.</summary>
        public void Flush()
        {
            using var sync = new FileStream(_handle, FileAccess.ReadWrite, 0);
            sync.Flush(flushToDisk: true);
        }

        public void Dispose() => _handle.Dispose();
    }

    /// <summary>One thread's buffers: a block of every run, raw and smoothed.</summary>
    private sealed class Worker
    {
        private readonly IReadOnlyList<ICurveBlocks> _files;
        private readonly SplineSmoother _smoother;
        private readonly MetricsOptions _options;
        private readonly int _bio, _first, _k, _n;
        private readonly double[][] _raw;     // per run (K, bio)
        private readonly float[][] _out;      // per run: (n, bio) checkpoints-first or (bio, n) examples-first
        private readonly SmootherBlock[] _blocks;
        private readonly byte[] _scratch;
        private readonly double[] _min, _threshold, _acc, _y;
        private readonly int[] _index;

        public Worker(IReadOnlyList<ICurveBlocks> files, SplineSmoother smoother, int bio, int first, MetricsOptions options)
        {
            _files = files;
            _smoother = smoother;
            _options = options;
            _bio = bio;
            _first = first;
            _k = files[0].Checkpoints;
            _n = smoother.Points;
            _raw = files.Select(_ => new double[_k * bio]).ToArray();
            _out = files.Select(_ => new float[_n * bio]).ToArray();
            _blocks = files.Select(_ => smoother.CreateBlock(SubBlock)).ToArray();
            _scratch = new byte[files[0].ScratchBytes(bio)];
            _min = new double[SubBlock];
            _threshold = new double[SubBlock];
            _acc = new double[SubBlock];
            _y = new double[_n];
            _index = new int[SubBlock];
            LambdaCounts = new long[smoother.Lambdas.Count];
        }

        public long[] LambdaCounts { get; }

        public void Process(int e0, int count, MetricResults res, SmoothedCurvesFile smoothed)
        {
            int runs = _files.Count, e = _files[0].Examples;
            for (int r = 0; r < runs; r++) _files[r].ReadBlock(e0, count, _raw[r], _bio, _scratch);
            bool checkpointsFirst = _files[0].Layout == CurveLayout.CheckpointsFirst;
            for (int c0 = 0; c0 < count; c0 += SubBlock)
            {
                int cb = Math.Min(SubBlock, count - c0);
                for (int r = 0; r < runs; r++)
                {
                    var raw = _raw[r];
                    var blk = _blocks[r];
                    _smoother.Smooth(raw.AsSpan(_first * _bio + c0), _bio, cb, blk);
                    for (int c = 0; c < cb; c++) LambdaCounts[blk.LambdaIndex[c]]++;
                    long o = (long)r * e + e0 + c0;
                    FinalAndWithin(raw, c0, cb, res.Storage(Metric.FinalSurprisal).AsSpan((int)o, cb), res.Storage(Metric.WithinRunVar).AsSpan((int)o, cb));
                    Forgettability(blk, cb, res.Storage(Metric.Forgettability).AsSpan((int)o, cb));
                    Aoa(raw, c0, blk, cb, res.Storage(Metric.Aoa).AsSpan((int)o, cb));
                    var dst = _out[r];
                    int cap = blk.Capacity;
                    for (int i = 0; i < _n; i++)
                    {
                        var src = blk.Fitted.AsSpan(i * cap, cb);
                        if (checkpointsFirst)
                        {
                            var row = dst.AsSpan(i * _bio + c0, cb);
                            for (int c = 0; c < cb; c++) row[c] = (float)src[c];
                        }
                        else
                        {
                            for (int c = 0; c < cb; c++) dst[(c0 + c) * _n + i] = (float)src[c];
                        }
                    }
                }
                CrossRun(cb, res.Storage(Metric.CrossRunVar).AsSpan(e0 + c0, cb));
            }
            // This block of smoothed curves into (runs, n, E) or (runs, E, n).
            for (int r = 0; r < runs; r++) smoothed.Write(r, e0, count, _out[r], _bio);
        }

        private void FinalAndWithin(double[] raw, int c0, int cb, Span<double> final, Span<double> within)
        {
            int last = _options.Last;
            var mean = _acc.AsSpan(0, cb);
            mean.Clear();
            for (int j = _k - last; j < _k; j++)
            {
                var row = raw.AsSpan(j * _bio + c0, cb);
                for (int c = 0; c < cb; c++) mean[c] += row[c];
            }
            for (int c = 0; c < cb; c++) mean[c] /= last;
            within.Clear();
            for (int j = _k - last; j < _k; j++)
            {
                var row = raw.AsSpan(j * _bio + c0, cb);
                for (int c = 0; c < cb; c++)
                {
                    double d = row[c] - mean[c];
                    within[c] += d * d;
                }
            }
            for (int c = 0; c < cb; c++)
            {
                final[c] = mean[c];
                within[c] = Math.Sqrt(within[c] / last);
            }
        }

        private void Forgettability(SmootherBlock blk, int cb, Span<double> forget)
        {
            int cap = blk.Capacity;
            forget.Clear();
            for (int i = 0; i + 1 < _n; i++)
            {
                var a = blk.Fitted.AsSpan(i * cap, cb);
                var b = blk.Fitted.AsSpan((i + 1) * cap, cb);
                for (int c = 0; c < cb; c++) forget[c] += Math.Max(0, b[c] - a[c]);
            }
        }

        private void Aoa(double[] raw, int c0, SmootherBlock blk, int cb, Span<double> aoa)
        {
            double chance = _options.ChanceBits;
            var x = _smoother.X;
            double xLast = x[_n - 1];
            if (_options.Aoa == AoaMethod.Gam)
            {
                var min = _min.AsSpan(0, cb);
                _smoother.GridMinimum(blk, min);
                var t = _threshold.AsSpan(0, cb);
                for (int c = 0; c < cb; c++) t[c] = 0.5 * chance + 0.5 * min[c];
                var idx = _index.AsSpan(0, cb);
                _smoother.FirstGridIndexAtOrBelow(blk, t, idx);
                var grid = _smoother.GridX;
                for (int c = 0; c < cb; c++) aoa[c] = t[c] >= chance || idx[c] < 0 ? xLast : grid[idx[c]];
                return;
            }
            var xs = _smoother.X as double[] ?? [.. _smoother.X];
            for (int c = 0; c < cb; c++)
            {
                for (int i = 0; i < _n; i++) _y[i] = raw[(_first + i) * _bio + c0 + c];
                var fit = SigmoidFit.Fit(xs, _y);
                double f0 = fit.Evaluate(x[0]), f1 = fit.Evaluate(xLast);
                double threshold = 0.5 * chance + 0.5 * Math.Min(f0, f1); // a logistic's minimum on [x0, x1] is at an end
                aoa[c] = threshold >= chance ? xLast : fit.Crossing(threshold, x[0], xLast);
            }
        }

        private void CrossRun(int cb, Span<double> cross)
        {
            int runs = _files.Count;
            if (runs < 2)
            {
                cross.Fill(double.NaN);
                return;
            }
            cross.Clear();
            int cap = _blocks[0].Capacity;
            for (int a = 0; a < runs; a++)
                for (int b = a + 1; b < runs; b++)
                {
                    var fa = _blocks[a].Fitted;
                    var fb = _blocks[b].Fitted;
                    for (int i = 0; i < _n; i++)
                    {
                        var ra = fa.AsSpan(i * cap, cb);
                        var rb = fb.AsSpan(i * cap, cb);
                        for (int c = 0; c < cb; c++)
                        {
                            double d = ra[c] - rb[c];
                            cross[c] += d * d;
                        }
                    }
                }
            double scale = 1.0 / ((double)_n * (runs * (runs - 1) / 2));
            for (int c = 0; c < cb; c++) cross[c] *= scale;
        }
    }
}
