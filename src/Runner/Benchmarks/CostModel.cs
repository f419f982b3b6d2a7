using System.Globalization;
using System.Runtime.InteropServices;
using LearningCurves.Engine.Model;
using LearningCurves.Kernels;
using LearningCurves.Kernels.Native;

namespace LearningCurves.Runner.Benchmarks;

/// <summary>One launch's work as the software GPU counted it: a kernel (bytes measured at page granularity) or a GEMM
/// (bytes and FLOPs exact from its shapes and types); <paramref name="Uncounted"/> for a library call the shim queued
/// without a cost (predicted at the floor; the table marks it).</summary>
public sealed record LaunchCost(string Name, bool IsGemm, double BytesRead, double BytesWritten, double Flops, int Math, bool Uncounted = false);

/// <summary>
/// The software GPU's cost counters (tests/software-gpu: <c>lcsg_cost_*</c>), looked up as optional symbols in the
/// loaded CUDA driver library: present only when that library is the software GPU's shim. src/Kernels never sees them.
/// </summary>
public sealed unsafe class SoftwareGpuCounters
{
    private readonly delegate* unmanaged<int, void> _enable;
    private readonly delegate* unmanaged<void> _reset;
    private readonly delegate* unmanaged<long> _count;
    private readonly delegate* unmanaged<long, byte**, int*, double*, double*, double*, int*, int> _get;

    private SoftwareGpuCounters(IntPtr lib)
    {
        _enable = (delegate* unmanaged<int, void>)NativeLibrary.GetExport(lib, "lcsg_cost_enable");
        _reset = (delegate* unmanaged<void>)NativeLibrary.GetExport(lib, "lcsg_cost_reset");
        _count = (delegate* unmanaged<long>)NativeLibrary.GetExport(lib, "lcsg_cost_count");
        _get = (delegate* unmanaged<long, byte**, int*, double*, double*, double*, int*, int>)NativeLibrary.GetExport(lib, "lcsg_cost_get");
    }

    /// <summary>The counters when the loaded driver is the software GPU; null on a real GPU.</summary>
    public static SoftwareGpuCounters? TryOpen()
    {
        string? path = CudaLibraries.DriverFile;
        if (path is null || !NativeLibrary.TryLoad(path, out var lib)) return null;
        return NativeLibrary.TryGetExport(lib, "lcsg_cost_enable", out _) ? new SoftwareGpuCounters(lib) : null;
    }

    /// <summary>Counts the device work of <paramref name="work"/> (GEMM products are skipped: their costs are exact from
    /// their shapes and their results are not needed; kernels run and are measured).</summary>
    public List<LaunchCost> Count(CudaBackend cuda, Action work)
    {
        ArgumentNullException.ThrowIfNull(cuda);
        ArgumentNullException.ThrowIfNull(work);
        cuda.Synchronize();
        _reset();
        _enable(2);
        try
        {
            work();
            cuda.Synchronize();
        }
        finally
        {
            _enable(0);
        }
        var list = new List<LaunchCost>();
        long n = _count();
        for (long i = 0; i < n; i++)
        {
            byte* name;
            int kind, math;
            double read, written, flops;
            if (_get(i, &name, &kind, &read, &written, &flops, &math) != 0) break;
            list.Add(new LaunchCost(Marshal.PtrToStringUTF8((IntPtr)name) ?? "?", kind == 2, read, written, flops, math, kind == 3));
        }
        _reset();
        return list;
    }
}

/// <summary>
/// Predicted time of a forward pass on the H200 of the first real-GPU run (2026-12-04), from counted work: each launch
/// takes the longest of its bytes (read + written) at the measured copy rate, its GEMM FLOPs at the measured matrix rate
/// of its math (bf16 / f16 tensor cores, TF32, plain fp32), and a floor of <see cref="LaunchFloorSeconds"/>; the
/// launches are summed (one stream: they run one after another). Not modelled: caches (every byte counted goes to
/// HBM), latency- or compute-bound kernels that are not GEMMs (their SIMT FLOPs are not counted: the fused attention
/// kernel is under-predicted), overlap between launches.
/// </summary>
public static class CostModel
{
    /// <summary>H200 device copy rate (read + write), bytes/s.</summary>
    public const double Bandwidth = 3.96e12;

    public const double Bf16FlopsPerSecond = 796e12;
    public const double Tf32FlopsPerSecond = 419e12;
    public const double Fp32FlopsPerSecond = 51e12;

    /// <summary>No launch is predicted shorter than this: on the H200 the op with the least work (surprisal_finish,
    /// one block) took 3.8 us between CUDA events; launching, ramping up and draining a kernel costs a few microseconds
    /// whatever it does. A floor, not an addition: the large kernels' times already include their ramp.</summary>
    public const double LaunchFloorSeconds = 3e-6;

    public static double Peak(int math) => math switch
    {
        3 => Bf16FlopsPerSecond,
        2 => Tf32FlopsPerSecond,
        _ => Fp32FlopsPerSecond,
    };

    public static double Seconds(LaunchCost c) =>
        Math.Max(LaunchFloorSeconds, Math.Max((c.BytesRead + c.BytesWritten) / Bandwidth, c.IsGemm ? c.Flops / Peak(c.Math) : 0));

    /// <summary>"memory" or "compute" or "floor": what bounds one launch.</summary>
    public static string Bound(LaunchCost c)
    {
        if (c.Uncounted) return "not counted";
        double mem = (c.BytesRead + c.BytesWritten) / Bandwidth, comp = c.IsGemm ? c.Flops / Peak(c.Math) : 0;
        return Math.Max(mem, comp) < LaunchFloorSeconds ? "floor" : comp > mem ? "compute" : "memory";
    }

    /// <summary>Per-launch costs at batch <paramref name="b"/> from counts at batches 1 and 2 (same launches, same
    /// order): each quantity a + (b - 1) (c2 - c1). Exact for GEMMs (their shapes are linear in the batch); for kernels
    /// the page-granular counts are close to linear once buffers span many pages (the bench checks it on the tiny shape).</summary>
    public static List<LaunchCost> Extrapolate(IReadOnlyList<LaunchCost> one, IReadOnlyList<LaunchCost> two, int b)
    {
        ArgumentNullException.ThrowIfNull(one);
        ArgumentNullException.ThrowIfNull(two);
        if (one.Count != two.Count || one.Zip(two).Any(p => p.First.Name != p.Second.Name))
            throw new InvalidOperationException($"the launches at batch 1 ({one.Count}) and 2 ({two.Count}) differ: cannot extrapolate");
        static double L(double x1, double x2, int b) => Math.Max(0, x1 + (b - 1) * (x2 - x1));
        return one.Zip(two, (x, y) => new LaunchCost(x.Name, x.IsGemm, L(x.BytesRead, y.BytesRead, b), L(x.BytesWritten, y.BytesWritten, b),
            L(x.Flops, y.Flops, b), x.Math, x.Uncounted)).ToList();
    }

    /// <summary>Counts one Score call at B = 1 and B = 2 (and 3 when <paramref name="checkLinearity"/>) and extrapolates to
    /// <paramref name="b"/>. With the check, also returns how far the B = 3 bytes predicted from B = 1 and 2 are from the
    /// bytes counted at B = 3: over all launches, and for the op where it is worst.</summary>
    public static (List<LaunchCost> Launches, string? Linearity) Predict(CudaBackend cuda, SoftwareGpuCounters counters, ModelConfig cfg,
        int b, int t, int k, bool checkLinearity)
    {
        ArgumentNullException.ThrowIfNull(counters);
        var weights = ModelWeights.Random(cfg, 7);
        using var model = new DecoderModel(cuda, weights);
        var rng = new Random(7);
        List<LaunchCost> Run(int batch)
        {
            var seqs = Enumerable.Range(0, batch).Select(_ => Enumerable.Range(0, t).Select(_ => rng.Next(cfg.VocabSize)).ToArray()).ToArray();
            var positions = seqs.Select(_ => Enumerable.Range(1, t - 1).OrderBy(_ => rng.Next()).Take(k).Order().ToArray()).ToArray();
            model.Score(seqs, positions); // sizes the backend's scratch buffers: the counted call allocates nothing new
            return counters.Count(cuda, () => model.Score(seqs, positions));
        }
        var one = Run(1);
        var two = Run(2);
        string? linearity = null;
        if (checkLinearity)
        {
            var three = Run(3);
            var predicted = Extrapolate(one, two, 3);
            static double Bytes(IEnumerable<LaunchCost> x) => x.Sum(c => c.BytesRead + c.BytesWritten);
            double Err(Func<LaunchCost, bool> f) => Math.Abs(Bytes(predicted.Where(f)) - Bytes(three.Where(f))) / Math.Max(1, Bytes(three.Where(f)));
            var worst = three.Select(x => x.Name).Distinct().Select(n => (Name: n, Err: Err(x => x.Name == n))).MaxBy(x => x.Err);
            linearity = string.Create(CultureInfo.InvariantCulture,
                $"bytes at B=3 predicted from B=1 and 2: total within {Err(_ => true):P2}, worst op {worst.Name} within {worst.Err:P1}");
        }
        return (Extrapolate(one, two, b), linearity);
    }

    /// <summary>Prints `launches per forward: N`, `predicted H200: X ms per batch` and, with <paramref name="table"/>,
    /// the prediction per op name.</summary>
    public static void Print(IReadOnlyList<LaunchCost> launches, int b, int t, bool table, TextWriter w)
    {
        ArgumentNullException.ThrowIfNull(launches);
        ArgumentNullException.ThrowIfNull(w);
        double total = launches.Sum(Seconds);
        var ci = CultureInfo.InvariantCulture;
        w.WriteLine(string.Create(ci, $"    launches per forward: {launches.Count}"));
        w.WriteLine(string.Create(ci, $"    predicted H200: {total * 1000:F2} ms per batch ({b * t / total:F0} tokens/s; cost model, software GPU counts)"));
        if (!table) return;
        w.WriteLine(string.Create(ci, $"    predicted per op (bytes at {Bandwidth / 1e12:F2} TB/s, GEMM FLOPs at the matrix rate, floor {LaunchFloorSeconds * 1e6:F0} us per launch):"));
        foreach (var g in launches.GroupBy(x => x.Name).OrderByDescending(g => g.Sum(Seconds)))
        {
            double ms = g.Sum(Seconds) * 1000, gb = g.Sum(x => x.BytesRead + x.BytesWritten) / 1e9, gf = g.Sum(x => x.Flops) / 1e9;
            string bound = string.Join("/", g.Select(Bound).Distinct());
            w.WriteLine(string.Create(ci,
                $"    {g.Key,-36} {g.Count(),6} calls {ms,10:F3} ms {ms * 1000 / g.Count(),10:F1} us/call {gb,9:F3} GB {gf,10:F1} GFLOP  {bound}"));
        }
        w.WriteLine(string.Create(ci, $"    {"total",-36} {launches.Count,6} calls {total * 1000,10:F3} ms"));
    }
}
