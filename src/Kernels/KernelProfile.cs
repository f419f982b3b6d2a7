using LearningCurves.Kernels.Native;

namespace LearningCurves.Kernels;

/// <summary>Total device time of one op or kernel over a profiled region.</summary>
public sealed record KernelTime(string Name, int Calls, double TotalMs)
{
    public double MeanMs => Calls == 0 ? 0 : TotalMs / Calls;
}

/// <summary>
/// CUDA events recorded on the stream around each op while profiling. Events bracket work on the same stream, so the
/// time between them is that op's device time (launch gaps excluded only when the GPU is never idle).
/// </summary>
internal sealed class KernelProfile : IDisposable
{
    private readonly CudaDevice _dev;
    private readonly List<(string Name, EventHandle Start, EventHandle End)> _marks = new();

    public KernelProfile(CudaDevice dev) => _dev = dev;

    public IDisposable Begin(string name)
    {
        var start = _dev.CreateEvent(timing: true);
        var end = _dev.CreateEvent(timing: true);
        _dev.Record(start);
        _marks.Add((name, start, end));
        return new Mark(_dev, end);
    }

    /// <summary>Waits for the recorded work and sums the time per name, largest first.</summary>
    public IReadOnlyList<KernelTime> Collect()
    {
        var sums = new Dictionary<string, (int Calls, double Ms)>(StringComparer.Ordinal);
        foreach (var (name, start, end) in _marks)
        {
            double ms = CudaDevice.Elapsed(start, end);
            var s = sums.GetValueOrDefault(name);
            sums[name] = (s.Calls + 1, s.Ms + ms);
        }
        return sums.Select(kv => new KernelTime(kv.Key, kv.Value.Calls, kv.Value.Ms)).OrderByDescending(k => k.TotalMs).ToList();
    }

    public void Dispose()
    {
        foreach (var (_, s, e) in _marks)
        {
            s.Dispose();
            e.Dispose();
        }
        _marks.Clear();
    }

    private sealed class Mark(CudaDevice dev, EventHandle end) : IDisposable
    {
        private bool _done;

        public void Dispose()
        {
            if (_done) return;
            _done = true;
            dev.Record(end);
        }
    }
}
