using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using LearningCurves.Formats.IO;
using LearningCurves.Kernels.Native;

namespace LearningCurves.Kernels;

/// <summary>What NVRTC is asked to produce for one device.</summary>
/// <param name="Arch">The architecture compiled for (90 = sm_90).</param>
/// <param name="Cubin">True: machine code for exactly that arch. False: PTX for a lower arch that the driver JITs
/// (when this NVRTC does not know the device's arch).</param>
public readonly record struct CompileTarget(int Arch, bool Cubin)
{
    /// <summary>The --gpu-architecture option: sm_90 for a cubin, compute_90 for PTX.</summary>
    public string Option => (Cubin ? "sm_" : "compute_") + Arch.ToString(CultureInfo.InvariantCulture);

    /// <summary>Picks the target: a cubin when NVRTC supports the device's arch, else PTX for the highest arch it
    /// supports below the device's. Null when it supports none at or below it.</summary>
    public static CompileTarget? Choose(int deviceArch, IReadOnlyCollection<int> supported)
    {
        ArgumentNullException.ThrowIfNull(supported);
        if (supported.Contains(deviceArch)) return new CompileTarget(deviceArch, true);
        var lower = supported.Where(a => a <= deviceArch).ToList();
        return lower.Count == 0 ? null : new CompileTarget(lower.Max(), false);
    }
}

/// <summary>
/// Compiles kernels.cu with NVRTC and keeps the image on disk, keyed by source hash (with the options), target
/// architecture and NVRTC version, so each machine compiles once per change. Cache files are written to a temp name
/// and renamed, so a crash never leaves a half image under a valid key.
/// </summary>
public static class KernelCompiler
{
    /// <summary>The options every compile uses. No fast-math: the fp32 mode must match the CPU closely.</summary>
    public static IReadOnlyList<string> BaseOptions { get; } = new[] { "--std=c++17", "-default-device" };

    /// <summary>kernels.cu as embedded in this assembly.</summary>
    public static string EmbeddedSource()
    {
        using var s = typeof(KernelCompiler).Assembly.GetManifestResourceStream("kernels.cu")
            ?? throw new InvalidOperationException("kernels.cu is not embedded in LearningCurves.Kernels");
        using var r = new StreamReader(s, Encoding.UTF8);
        return r.ReadToEnd();
    }

    /// <summary>The cache file's name: "kernels-{sha256 of source and options, 16 hex}-{sm_90|compute_90}-nvrtc{12.8}.{cubin|ptx}".</summary>
    public static string CacheKey(string source, IEnumerable<string> options, CompileTarget target, int nvrtcMajor, int nvrtcMinor)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(options);
        var text = source + "\n//options: " + string.Join(' ', options);
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..16];
        return string.Create(CultureInfo.InvariantCulture,
            $"kernels-{hash}-{target.Option}-nvrtc{nvrtcMajor}.{nvrtcMinor}.{(target.Cubin ? "cubin" : "ptx")}");
    }

    /// <summary>LC_KERNEL_CACHE, else $XDG_CACHE_HOME/learning-curves/kernels, else ~/.cache/learning-curves/kernels.</summary>
    public static string DefaultCacheDir()
    {
        var env = Environment.GetEnvironmentVariable("LC_KERNEL_CACHE");
        if (!string.IsNullOrEmpty(env)) return env;
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        var root = !string.IsNullOrEmpty(xdg) ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(root, "learning-curves", "kernels");
    }

    /// <summary>Reads a cached image, or null when absent or empty.</summary>
    public static byte[]? TryReadCache(string dir, string key)
    {
        var path = Path.Combine(dir, key);
        if (!File.Exists(path)) return null;
        var bytes = File.ReadAllBytes(path);
        return bytes.Length == 0 ? null : bytes;
    }

    /// <summary>Writes an image under its key atomically; a cache that cannot be written is skipped (compiling again is correct, only slower).</summary>
    public static bool TryWriteCache(string dir, string key, byte[] image)
    {
        ArgumentNullException.ThrowIfNull(image);
        try
        {
            AtomicFile.WriteAllBytes(Path.Combine(dir, key), image);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    public static (int Major, int Minor) NvrtcVersion()
    {
        NvrtcApi.Check(NvrtcApi.nvrtcVersion(out int major, out int minor), "nvrtcVersion");
        return (major, minor);
    }

    public static IReadOnlyList<int> SupportedArchs()
    {
        NvrtcApi.Check(NvrtcApi.nvrtcGetNumSupportedArchs(out int n), "nvrtcGetNumSupportedArchs");
        var archs = new int[n];
        unsafe
        {
            fixed (int* p = archs) NvrtcApi.Check(NvrtcApi.nvrtcGetSupportedArchs(p), "nvrtcGetSupportedArchs");
        }
        return archs;
    }

    /// <summary>The image for <paramref name="device"/>: from the cache, or compiled now and cached.</summary>
    public static byte[] GetImage(CudaDevice device, string source, TextWriter? log, string? cacheDir = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        return GetImage(device.Arch, source, log, cacheDir);
    }

    /// <summary>The image for a device of architecture <paramref name="deviceArch"/> (90 = sm_90): from the cache, or
    /// compiled now and cached. Needs NVRTC only, no driver or device.</summary>
    public static byte[] GetImage(int deviceArch, string source, TextWriter? log, string? cacheDir = null)
    {
        var (major, minor) = NvrtcVersion();
        var target = CompileTarget.Choose(deviceArch, SupportedArchs())
            ?? throw new CudaUnavailableException(
                $"NVRTC {major}.{minor} ({CudaLibraries.LoadedFrom.GetValueOrDefault(CudaLibraries.Nvrtc)}) cannot compile for sm_{deviceArch} or any lower arch",
                Array.Empty<string>());
        var options = BaseOptions.Append("--gpu-architecture=" + target.Option).ToArray();
        var key = CacheKey(source, options, target, major, minor);
        var dir = cacheDir ?? DefaultCacheDir();
        var fromCache = TryReadCache(dir, key);
        if (fromCache is not null)
        {
            log?.WriteLine($"kernels: cached image {Path.Combine(dir, key)}");
            return fromCache;
        }
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var image = Compile(source, options, target.Cubin);
        // Written before and apart from the log line: an argument of log?.WriteLine is not evaluated when log is null.
        bool cached = TryWriteCache(dir, key, image);
        log?.WriteLine($"kernels: NVRTC {major}.{minor} compiled kernels.cu for {target.Option} in {sw.Elapsed.TotalSeconds:F1} s" +
            (cached ? $", cached as {Path.Combine(dir, key)}" : " (cache not writable)"));
        return image;
    }

    /// <summary>Runs NVRTC; a compile error throws with the compiler's log.</summary>
    public static byte[] Compile(string source, IReadOnlyList<string> options, bool cubin) => Compile(source, options, cubin, out _);

    /// <summary>Runs NVRTC and also returns its log (warnings, or ptxas's report with --ptxas-options=-v).</summary>
    public static byte[] Compile(string source, IReadOnlyList<string> options, bool cubin, out string log)
    {
        ArgumentNullException.ThrowIfNull(options);
        NvrtcApi.Check(NvrtcApi.nvrtcCreateProgram(out var p, source, "kernels.cu", 0, IntPtr.Zero, IntPtr.Zero), "nvrtcCreateProgram");
        using var program = new NvrtcProgramHandle(p);
        var encoded = options.Select(o => Encoding.UTF8.GetBytes(o + "\0")).ToArray();
        var pins = encoded.Select(b => System.Runtime.InteropServices.GCHandle.Alloc(b, System.Runtime.InteropServices.GCHandleType.Pinned)).ToArray();
        int result;
        try
        {
            unsafe
            {
                byte** ptrs = stackalloc byte*[encoded.Length];
                for (int i = 0; i < encoded.Length; i++) ptrs[i] = (byte*)pins[i].AddrOfPinnedObject();
                result = NvrtcApi.nvrtcCompileProgram(program.Value, encoded.Length, ptrs);
            }
        }
        finally
        {
            foreach (var h in pins) h.Free();
        }
        if (result != NvrtcApi.Success)
            NvrtcApi.Check(result, "nvrtcCompileProgram", "NVRTC log (options " + string.Join(' ', options) + "):" + Environment.NewLine + ProgramLog(program));
        log = ProgramLog(program);
        unsafe
        {
            if (cubin)
            {
                NvrtcApi.Check(NvrtcApi.nvrtcGetCUBINSize(program.Value, out var size), "nvrtcGetCUBINSize");
                var image = new byte[(int)size];
                fixed (byte* b = image) NvrtcApi.Check(NvrtcApi.nvrtcGetCUBIN(program.Value, b), "nvrtcGetCUBIN");
                return image;
            }
            NvrtcApi.Check(NvrtcApi.nvrtcGetPTXSize(program.Value, out var psize), "nvrtcGetPTXSize");
            var ptx = new byte[(int)psize];
            fixed (byte* b = ptx) NvrtcApi.Check(NvrtcApi.nvrtcGetPTX(program.Value, b), "nvrtcGetPTX");
            // Drop the trailing NUL; LoadModule adds its own.
            int n = Array.IndexOf(ptx, (byte)0);
            return n < 0 ? ptx : ptx[..n];
        }
    }

    private static string ProgramLog(NvrtcProgramHandle program)
    {
        if (NvrtcApi.nvrtcGetProgramLogSize(program.Value, out var size) != NvrtcApi.Success || size <= 1) return "(no log)";
        var buf = new byte[(int)size];
        unsafe
        {
            fixed (byte* b = buf)
            {
                if (NvrtcApi.nvrtcGetProgramLog(program.Value, b) != NvrtcApi.Success) return "(log unavailable)";
            }
        }
        return Encoding.UTF8.GetString(buf, 0, (int)size - 1).TrimEnd();
    }
}
