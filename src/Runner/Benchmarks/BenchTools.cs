using System.Diagnostics;
using System.Globalization;

namespace LearningCurves.Runner.Benchmarks;

/// <summary>The folder a benchmark writes its synthetic files to: the one `--dir` names, kept afterwards, else a fresh
/// temporary one, deleted on dispose.</summary>
internal sealed class BenchFolder : IDisposable
{
    private readonly bool _temporary;

    public BenchFolder(string? named, string bench)
    {
        _temporary = named is null;
        Path = named ?? System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"lc-bench-{bench}-{Environment.ProcessId}");
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    // A folder the user named is theirs to keep; the temporary one goes.
    public void Dispose()
    {
        if (_temporary) Directory.Delete(Path, recursive: true);
    }
}

/// <summary>Wall-clock time and this process's CPU time since one start: the pair every benchmark reports.</summary>
internal sealed class CpuClock
{
    private readonly Stopwatch _wall = Stopwatch.StartNew();
    private readonly TimeSpan _cpu0 = Process.GetCurrentProcess().TotalProcessorTime;

    public TimeSpan Wall => _wall.Elapsed;

    public double WallSeconds => _wall.Elapsed.TotalSeconds;

    public double CpuSeconds => (Process.GetCurrentProcess().TotalProcessorTime - _cpu0).TotalSeconds;

    /// <summary>Peak resident set size (VmHWM) of this process on Linux, else the peak working set.</summary>
    public static long PeakRssBytes()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException)
        {
            // not Linux: fall through
        }
        return Process.GetCurrentProcess().PeakWorkingSet64;
    }
}
