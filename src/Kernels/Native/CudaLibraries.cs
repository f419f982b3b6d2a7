using System.Reflection;
using System.Runtime.InteropServices;

namespace LearningCurves.Kernels.Native;

/// <summary>
/// Finds and loads the CUDA driver, NVRTC and cuBLAS(Lt) shared libraries. The [LibraryImport] declarations name
/// logical libraries (<see cref="Driver"/>, <see cref="Nvrtc"/>, <see cref="Cublas"/>); a resolver registered for this
/// assembly maps them to whatever file <see cref="Load"/> found. Every attempt is kept in a trace so a failure can
/// say exactly what was tried.
/// </summary>
public static class CudaLibraries
{
    /// <summary>Logical names used in [LibraryImport]; never real file names.</summary>
    internal const string Driver = "lc-cuda-driver";
    internal const string Nvrtc = "lc-cuda-nvrtc";
    internal const string Cublas = "lc-cuda-cublas";
    internal const string CublasLt = "lc-cuda-cublaslt";

    private static readonly object Gate = new();
    private static readonly Dictionary<string, IntPtr> Loaded = new(StringComparer.Ordinal);
    private static readonly List<string> TraceLines = new();
    private static bool _resolverSet;

    /// <summary>Every load attempt so far, one line each: "path: outcome".</summary>
    public static IReadOnlyList<string> Trace
    {
        get { lock (Gate) return TraceLines.ToArray(); }
    }

    /// <summary>The file each logical library was loaded from, for reports.</summary>
    public static IReadOnlyDictionary<string, string> LoadedFrom
    {
        get { lock (Gate) return new Dictionary<string, string>(LoadedPaths, StringComparer.Ordinal); }
    }

    private static readonly Dictionary<string, string> LoadedPaths = new(StringComparer.Ordinal);

    /// <summary>True once <see cref="Load"/> found libcublasLt (it is optional: without it the backend uses cuBLAS only).</summary>
    public static bool CublasLtLoaded
    {
        get { lock (Gate) return Loaded.ContainsKey(CublasLt); }
    }

    /// <summary>The file the CUDA driver library was loaded from, or null before it is loaded (for tools that look up
    /// optional symbols in it, such as the software GPU's test hooks).</summary>
    public static string? DriverFile
    {
        get { lock (Gate) return LoadedPaths.GetValueOrDefault(Driver); }
    }

    /// <summary>
    /// Loads the driver, then NVRTC and cuBLAS (cuBLASLt first, so cuBLAS finds it beside itself). Preference goes
    /// to the major version matching the driver's CUDA version. Throws <see cref="CudaUnavailableException"/> with
    /// the trace when one is missing.
    /// </summary>
    public static void Load()
    {
        lock (Gate)
        {
            EnsureResolver();
            var env = SearchEnvironment.FromProcess();
            if (!Loaded.ContainsKey(Driver))
                LoadFirst(Driver, "the CUDA driver (libcuda)", CandidatePaths(LibraryKind.Driver, env, null));
            int? major = DriverMajorVersion();
            if (!Loaded.ContainsKey(Nvrtc))
            {
                LoadFirst(Nvrtc, "NVRTC (libnvrtc)", CandidatePaths(LibraryKind.Nvrtc, env, major));
                PreloadNvrtcBuiltins(LoadedPaths[Nvrtc]);
            }
            if (!Loaded.ContainsKey(CublasLt))
                TryLoadFirst(CublasLt, CandidatePaths(LibraryKind.CublasLt, env, major));
            if (!Loaded.ContainsKey(Cublas))
                LoadFirst(Cublas, "cuBLAS (libcublas)", CandidatePaths(LibraryKind.Cublas, env, major));
        }
    }

    /// <summary>Only the driver (for probing the device without NVRTC/cuBLAS).</summary>
    public static void LoadDriver()
    {
        lock (Gate)
        {
            EnsureResolver();
            if (!Loaded.ContainsKey(Driver))
                LoadFirst(Driver, "the CUDA driver (libcuda)", CandidatePaths(LibraryKind.Driver, SearchEnvironment.FromProcess(), null));
        }
    }

    /// <summary>Loads the driver from an explicit search environment (tests use it to point at crafted folders).</summary>
    internal static void LoadDriver(SearchEnvironment env)
    {
        lock (Gate)
        {
            EnsureResolver();
            if (!Loaded.ContainsKey(Driver))
                LoadFirst(Driver, "the CUDA driver (libcuda)", CandidatePaths(LibraryKind.Driver, env, null));
        }
    }

    /// <summary>Loads only NVRTC (compiling kernels.cu needs no driver or GPU: the tests compile it in CI).</summary>
    public static void LoadNvrtc()
    {
        lock (Gate)
        {
            EnsureResolver();
            if (Loaded.ContainsKey(Nvrtc)) return;
            LoadFirst(Nvrtc, "NVRTC (libnvrtc)", CandidatePaths(LibraryKind.Nvrtc, SearchEnvironment.FromProcess(), null));
            PreloadNvrtcBuiltins(LoadedPaths[Nvrtc]);
        }
    }

    /// <summary>
    /// NVRTC opens libnvrtc-builtins.so.MAJOR.MINOR by soname at its first compile, through the loader's own search,
    /// which does not include the folder NVRTC itself came from when that was found by full path. Loading the builtins
    /// from that folder first makes the later by-soname open find the library already in the process.
    /// </summary>
    private static void PreloadNvrtcBuiltins(string nvrtcPath)
    {
        var dir = Path.GetDirectoryName(nvrtcPath);
        if (string.IsNullOrEmpty(dir) || !Directory.Exists(dir)) return;
        foreach (var f in Directory.GetFiles(dir, "libnvrtc-builtins.so.*").OrderBy(f => f.Length).ThenBy(f => f, StringComparer.Ordinal))
        {
            if (NativeLibrary.TryLoad(f, out _))
            {
                TraceLines.Add($"{f}: loaded (NVRTC's builtins)");
                return;
            }
        }
    }

    private static int? DriverMajorVersion()
    {
        try
        {
            return CuApi.cuDriverGetVersion(out int v) == 0 && v > 0 ? v / 1000 : null;
        }
        catch (EntryPointNotFoundException)
        {
            return null;
        }
    }

    private static void EnsureResolver()
    {
        if (_resolverSet) return;
        NativeLibrary.SetDllImportResolver(typeof(CudaLibraries).Assembly, Resolve);
        _resolverSet = true;
    }

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        lock (Gate)
        {
            if (Loaded.TryGetValue(name, out var h)) return h;
        }
        // Not loaded yet: the caller skipped Load(). Report it the same way as a missing library.
        return name is Driver or Nvrtc or Cublas or CublasLt
            ? throw new CudaUnavailableException($"{name} used before CudaLibraries.Load()", Trace)
            : IntPtr.Zero;
    }

    private static void LoadFirst(string logical, string what, IEnumerable<string> candidates)
    {
        var tried = new List<string>();
        if (!TryLoadFirst(logical, candidates, tried))
            throw new CudaUnavailableException($"{what} was not found", tried);
    }

    private static bool TryLoadFirst(string logical, IEnumerable<string> candidates, List<string>? tried = null)
    {
        tried ??= new List<string>();
        // Missing files are summarised per folder so the error stays one readable line.
        var missingByDir = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var dirOrder = new List<string>();
        bool ok = false;
        foreach (var path in candidates)
        {
            // A bare file name goes through the system loader's own search (ldconfig cache, LD_LIBRARY_PATH, RUNPATH).
            bool bare = !path.Contains('/', StringComparison.Ordinal);
            if (!bare && !File.Exists(path))
            {
                var dir = Path.GetDirectoryName(path)!;
                if (!missingByDir.TryGetValue(dir, out var list))
                {
                    missingByDir[dir] = list = new List<string>();
                    dirOrder.Add(dir);
                }
                list.Add(Path.GetFileName(path));
                continue;
            }
            if (NativeLibrary.TryLoad(path, out var handle))
            {
                Loaded[logical] = handle;
                LoadedPaths[logical] = path;
                TraceLines.Add($"{path}: loaded");
                ok = true;
                break;
            }
            string line = bare ? $"{path}: not found by the system loader" : $"{path}: exists but failed to load ({LastLoadError(path)})";
            tried.Add(line);
            TraceLines.Add(line);
        }
        foreach (var dir in dirOrder)
        {
            string line = $"{dir}/: no {string.Join(" or ", missingByDir[dir])}";
            tried.Add(line);
            if (!ok) TraceLines.Add(line);
        }
        return ok;
    }

    private static string LastLoadError(string path)
    {
        try
        {
            NativeLibrary.Load(path);
            return "loaded on retry";
        }
        catch (DllNotFoundException e)
        {
            return e.Message.ReplaceLineEndings(" ");
        }
        catch (BadImageFormatException e)
        {
            return e.Message.ReplaceLineEndings(" ");
        }
    }

    /// <summary>
    /// The files to try for one library, in order: bare sonames (system loader), then CUDA_PATH, LD_LIBRARY_PATH,
    /// /usr/local/cuda*, driver folders, and nvidia-* Python wheel folders. Versions matching <paramref name="preferMajor"/>
    /// come first. Directories are listed whether or not they exist; the loader skips missing files.
    /// </summary>
    public static IReadOnlyList<string> CandidatePaths(LibraryKind kind, SearchEnvironment env, int? preferMajor)
    {
        ArgumentNullException.ThrowIfNull(env);
        var names = FileNames(kind, preferMajor);
        var dirs = new List<string>();
        void AddDir(string? d)
        {
            if (string.IsNullOrWhiteSpace(d)) return;
            d = d.TrimEnd('/');
            if (d.Length > 0 && !dirs.Contains(d, StringComparer.Ordinal)) dirs.Add(d);
        }

        if (env.CudaPath is { Length: > 0 } cudaPath)
        {
            AddDir(Path.Combine(cudaPath, "lib64"));
            AddDir(Path.Combine(cudaPath, "lib"));
            AddDir(Path.Combine(cudaPath, "targets", "x86_64-linux", "lib"));
        }
        foreach (var d in (env.LdLibraryPath ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)) AddDir(d);
        if (kind == LibraryKind.Driver)
        {
            foreach (var d in new[] { "/usr/lib/x86_64-linux-gnu", "/usr/local/nvidia/lib64", "/usr/local/nvidia/lib", "/usr/lib64", "/usr/lib/wsl/lib" })
                AddDir(d);
        }
        else
        {
            foreach (var root in env.CudaRoots)
            {
                AddDir(Path.Combine(root, "lib64"));
                AddDir(Path.Combine(root, "targets", "x86_64-linux", "lib"));
            }
            // PyTorch's wheels put the CUDA libraries in site-packages/nvidia/<component>/lib (cu13: nvidia/cu13/lib).
            string component = kind switch
            {
                LibraryKind.Nvrtc => "cuda_nvrtc",
                _ => "cublas",
            };
            foreach (var site in env.PythonSitePackages)
            {
                AddDir(Path.Combine(site, "nvidia", component, "lib"));
                AddDir(Path.Combine(site, "nvidia", "cu13", "lib"));
                AddDir(Path.Combine(site, "nvidia", "cu12", "lib"));
            }
            if (kind == LibraryKind.Nvrtc && env.ProjectCache is { Length: > 0 } cache)
                AddDir(Path.Combine(cache, "cuda-11.8", "lib"));
        }

        var result = new List<string>(names);
        foreach (var d in dirs)
            foreach (var n in names)
                result.Add(Path.Combine(d, n));
        return result;
    }

    /// <summary>Sonames for one library, the preferred CUDA major version first.</summary>
    public static IReadOnlyList<string> FileNames(LibraryKind kind, int? preferMajor)
    {
        if (kind == LibraryKind.Driver) return new[] { "libcuda.so.1", "libcuda.so" };
        string stem = kind switch
        {
            LibraryKind.Nvrtc => "libnvrtc",
            LibraryKind.Cublas => "libcublas",
            LibraryKind.CublasLt => "libcublasLt",
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
        var majors = new List<int> { 13, 12 };
        if (preferMajor is int p && majors.Contains(p))
        {
            majors.Remove(p);
            majors.Insert(0, p);
        }
        var names = majors.Select(m => $"{stem}.so.{m}").ToList();
        // NVRTC 11.2 to 11.8 share the soname libnvrtc.so.11.2 (Debian 12's libnvrtc11.2 ships 11.8 under it).
        if (kind == LibraryKind.Nvrtc) names.Add("libnvrtc.so.11.2");
        names.Add(stem + ".so");
        return names;
    }
}

/// <summary>Which CUDA library.</summary>
public enum LibraryKind
{
    Driver,
    Nvrtc,
    Cublas,
    CublasLt,
}

/// <summary>The places the resolver looks, gathered from the process environment (or given by a test).</summary>
/// <param name="ProjectCache">The project's cache folder (LEARNING_CURVES_CACHE, else ~/.cache/learning-curves), where
/// `build.ps1 setup` puts CUDA 11.8's NVRTC from Debian (cuda-11.8/lib); null: not searched.</param>
public sealed record SearchEnvironment(string? CudaPath, string? LdLibraryPath, IReadOnlyList<string> CudaRoots, IReadOnlyList<string> PythonSitePackages,
    string? ProjectCache = null)
{
    public static SearchEnvironment FromProcess()
    {
        var roots = new List<string>();
        foreach (var d in SafeDirs("/usr/local", "cuda*").OrderByDescending(d => d, StringComparer.Ordinal)) roots.Add(d);
        roots.Add("/opt/cuda");

        var sites = new List<string>();
        void AddSite(string d)
        {
            if (!sites.Contains(d, StringComparer.Ordinal)) sites.Add(d);
        }
        foreach (var p in (Environment.GetEnvironmentVariable("PYTHONPATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)) AddSite(p);
        var prefixes = new List<string>();
        if (Environment.GetEnvironmentVariable("VIRTUAL_ENV") is { Length: > 0 } venv) prefixes.Add(venv);
        if (Environment.GetEnvironmentVariable("CONDA_PREFIX") is { Length: > 0 } conda) prefixes.Add(conda);
        var home = Environment.GetEnvironmentVariable("HOME");
        if (!string.IsNullOrEmpty(home)) prefixes.Add(Path.Combine(home, ".local"));
        // A virtual environment on PATH (the python3 that holds PyTorch) is a prefix too: PATH entry DIR/bin -> DIR.
        foreach (var bin in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            if (bin.EndsWith("/bin", StringComparison.Ordinal) && bin.Length > 4) prefixes.Add(bin[..^4]);
        }
        prefixes.AddRange(new[] { "/usr/local", "/usr", "/opt/conda" });
        foreach (var prefix in prefixes)
        {
            foreach (var py in SafeDirs(Path.Combine(prefix, "lib"), "python3*"))
            {
                AddSite(Path.Combine(py, "site-packages"));
                AddSite(Path.Combine(py, "dist-packages"));
            }
        }
        foreach (var d in new[] { "/usr/lib/python3/dist-packages", "/usr/local/lib/python3/dist-packages" }) AddSite(d);
        var cache = Environment.GetEnvironmentVariable("LEARNING_CURVES_CACHE");
        if (string.IsNullOrEmpty(cache) && !string.IsNullOrEmpty(home)) cache = Path.Combine(home, ".cache", "learning-curves");
        return new SearchEnvironment(Environment.GetEnvironmentVariable("CUDA_PATH"), Environment.GetEnvironmentVariable("LD_LIBRARY_PATH"), roots, sites,
            string.IsNullOrEmpty(cache) ? null : cache);
    }

    private static IEnumerable<string> SafeDirs(string parent, string pattern)
    {
        try
        {
            return Directory.Exists(parent) ? Directory.GetDirectories(parent, pattern) : Array.Empty<string>();
        }
        catch (UnauthorizedAccessException)
        {
            return Array.Empty<string>();
        }
        catch (IOException)
        {
            return Array.Empty<string>();
        }
    }
}
