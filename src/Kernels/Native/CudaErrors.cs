using LearningCurves.Engine;
using LearningCurves.Formats;

namespace LearningCurves.Kernels.Native;

/// <summary>
/// No usable GPU: a library, the driver or a device is missing. A <see cref="UserError"/> (exit 2) because the fix is
/// on the user's side; the message lists what was tried, on one line.
/// </summary>
public sealed class CudaUnavailableException : UserError
{
    public CudaUnavailableException(string problem, IReadOnlyList<string> tried)
        : base(Format(problem, tried)) => Tried = tried;

    /// <summary>The attempts, one line each.</summary>
    public IReadOnlyList<string> Tried { get; }

    /// <summary>"problem; tried: a; b; c" (or just the problem when nothing was tried).</summary>
    public static string Format(string problem, IReadOnlyList<string> tried)
    {
        ArgumentNullException.ThrowIfNull(tried);
        return tried.Count == 0 ? problem : $"{problem}; tried: {string.Join("; ", tried)}";
    }
}

/// <summary>A failed CUDA driver, NVRTC or cuBLAS call: names the call and the library's error name and text.</summary>
public class CudaException : Exception
{
    public CudaException(string call, int code, string library, string? name, string? description, string? log = null)
        : base(Format(call, code, library, name, description, log))
    {
        Call = call;
        Code = code;
        ErrorName = name;
        Log = log;
    }

    public string Call { get; }

    public int Code { get; }

    public string? ErrorName { get; }

    /// <summary>The compiler or JIT log that came with the error, when there is one.</summary>
    public string? Log { get; }

    /// <summary>"cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY (out of memory)" plus the log on following lines.</summary>
    public static string Format(string call, int code, string library, string? name, string? description, string? log = null)
    {
        string what = name is { Length: > 0 }
            ? (description is { Length: > 0 } && description != name ? $"{name} ({description})" : name)
            : $"{library} error {code}";
        string msg = $"{call} failed: {what}";
        if (!string.IsNullOrWhiteSpace(log)) msg += Environment.NewLine + log.TrimEnd();
        return msg;
    }
}

/// <summary>The device ran out of memory. Callers that know the batch turn this into a <see cref="UserError"/>
/// naming a batch size that fits (see <see cref="BatchSizing"/>).</summary>
public sealed class CudaOutOfMemoryException : CudaException
{
    public CudaOutOfMemoryException(string call, int code, string? name, string? description, long requestedBytes, long freeBytes)
        : base(call, code, "CUDA", name, (description ?? "out of memory") + $"; asked for {Mib(requestedBytes)} MiB with {Mib(freeBytes)} MiB free")
    {
        RequestedBytes = requestedBytes;
        FreeBytes = freeBytes;
    }

    public long RequestedBytes { get; }

    public long FreeBytes { get; }

    private static string Mib(long bytes) => (bytes / (1024.0 * 1024.0)).ToString("F1", System.Globalization.CultureInfo.InvariantCulture);
}
