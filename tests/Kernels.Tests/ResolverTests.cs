using LearningCurves.Kernels.Native;
using LearningCurves.Tests.Common;
using Xunit;

namespace LearningCurves.Kernels.Tests;

/// <summary>Where the resolver looks for the CUDA libraries, and what it says when they are missing. These run on
/// machines without a GPU (CI); the one that needs the driver to be absent skips where it is present.</summary>
public class ResolverTests
{
    private static readonly SearchEnvironment Env = new("/opt/cuda-x", "/ld/a:/ld/b:", new[] { "/usr/local/cuda-12.8", "/usr/local/cuda" },
        new[] { "/venv/lib/python3.12/site-packages", "/usr/lib/python3/dist-packages" });

    [Fact]
    public void Driver_candidates_start_with_the_soname_then_driver_folders()
    {
        var c = CudaLibraries.CandidatePaths(LibraryKind.Driver, Env, null);
        Assert.Equal("libcuda.so.1", c[0]);
        Assert.Contains("/opt/cuda-x/lib64/libcuda.so.1", c);
        Assert.Contains("/ld/a/libcuda.so.1", c);
        Assert.Contains("/ld/b/libcuda.so.1", c);
        Assert.Contains("/usr/local/nvidia/lib64/libcuda.so.1", c);
        Assert.Contains("/usr/lib/x86_64-linux-gnu/libcuda.so.1", c);
        // The driver never comes from a toolkit or a Python wheel.
        Assert.DoesNotContain(c, p => p.Contains("site-packages", StringComparison.Ordinal) || p.StartsWith("/usr/local/cuda", StringComparison.Ordinal));
        Assert.Equal(c.Count, c.Distinct(StringComparer.Ordinal).Count());
    }

    [Theory]
    [InlineData(12, "libcublas.so.12", "libcublas.so.13")]
    [InlineData(13, "libcublas.so.13", "libcublas.so.12")]
    [InlineData(null, "libcublas.so.13", "libcublas.so.12")]
    public void The_drivers_major_version_is_tried_first(int? major, string first, string second)
    {
        var names = CudaLibraries.FileNames(LibraryKind.Cublas, major);
        Assert.Equal(new[] { first, second, "libcublas.so" }, names);
        var c = CudaLibraries.CandidatePaths(LibraryKind.Cublas, Env, major);
        Assert.True(c.ToList().IndexOf("/ld/a/" + first) < c.ToList().IndexOf("/ld/a/" + second));
    }

    [Fact]
    public void Toolkit_and_wheel_folders_are_searched_for_cublas_and_nvrtc()
    {
        var blas = CudaLibraries.CandidatePaths(LibraryKind.Cublas, Env, 12);
        Assert.Contains("/opt/cuda-x/lib64/libcublas.so.12", blas);
        Assert.Contains("/opt/cuda-x/targets/x86_64-linux/lib/libcublas.so.12", blas);
        Assert.Contains("/usr/local/cuda-12.8/lib64/libcublas.so.12", blas);
        Assert.Contains("/venv/lib/python3.12/site-packages/nvidia/cublas/lib/libcublas.so.12", blas);
        Assert.Contains("/usr/lib/python3/dist-packages/nvidia/cu13/lib/libcublas.so.13", blas);
        var lt = CudaLibraries.CandidatePaths(LibraryKind.CublasLt, Env, 12);
        Assert.Contains("/venv/lib/python3.12/site-packages/nvidia/cublas/lib/libcublasLt.so.12", lt);
        var nvrtc = CudaLibraries.CandidatePaths(LibraryKind.Nvrtc, Env, 13);
        Assert.Equal("libnvrtc.so.13", nvrtc[0]);
        Assert.Contains("/venv/lib/python3.12/site-packages/nvidia/cuda_nvrtc/lib/libnvrtc.so.12", nvrtc);
        Assert.Contains("/usr/local/cuda/lib64/libnvrtc.so.13", nvrtc);
    }

    [Fact]
    public void Nvrtc_11_and_the_project_caches_copy_are_tried()
    {
        Assert.Equal(new[] { "libnvrtc.so.12", "libnvrtc.so.13", "libnvrtc.so.11.2", "libnvrtc.so" }, CudaLibraries.FileNames(LibraryKind.Nvrtc, 12));
        var env = Env with { ProjectCache = "/home/u/.cache/learning-curves" };
        var nvrtc = CudaLibraries.CandidatePaths(LibraryKind.Nvrtc, env, null);
        Assert.Contains("/home/u/.cache/learning-curves/cuda-11.8/lib/libnvrtc.so.11.2", nvrtc);
        // Only NVRTC comes from there: setup fetches no cuBLAS or driver.
        Assert.DoesNotContain(CudaLibraries.CandidatePaths(LibraryKind.Cublas, env, null), p => p.Contains("cuda-11.8", StringComparison.Ordinal));
        Assert.DoesNotContain(CudaLibraries.CandidatePaths(LibraryKind.Driver, env, null), p => p.Contains("cuda-11.8", StringComparison.Ordinal));
    }

    [Fact]
    public void The_process_environment_is_read()
    {
        var env = SearchEnvironment.FromProcess();
        Assert.Equal(Environment.GetEnvironmentVariable("LD_LIBRARY_PATH"), env.LdLibraryPath);
        Assert.Contains("/usr/lib/python3/dist-packages", env.PythonSitePackages);
    }

    [Fact]
    public void Without_a_driver_the_error_is_one_line_listing_what_was_tried()
    {
        SkipWhenDriverPresent();
        var e = Assert.Throws<CudaUnavailableException>(CudaLibraries.Load);
        Assert.Equal(2, e.ExitCode);
        Assert.DoesNotContain('\n', e.Message);
        Assert.StartsWith("the CUDA driver (libcuda) was not found; tried: libcuda.so.1: not found by the system loader", e.Message, StringComparison.Ordinal);
        Assert.Contains("/usr/local/nvidia/lib64/: no libcuda.so.1 or libcuda.so", e.Message, StringComparison.Ordinal);
        Assert.Contains(e.Tried, t => t.StartsWith("/usr/lib/x86_64-linux-gnu/", StringComparison.Ordinal));
        Assert.Contains(CudaLibraries.Trace, t => t.StartsWith("libcuda.so.1", StringComparison.Ordinal));
    }

    [Fact]
    public void A_file_that_is_not_a_library_is_reported_with_the_loaders_reason()
    {
        SkipWhenDriverPresent();
        var dir = TestPaths.TempDir();
        File.WriteAllText(Path.Combine(dir, "libcuda.so.1"), "not an ELF file");
        var env = new SearchEnvironment(null, dir, Array.Empty<string>(), Array.Empty<string>());
        var e = Assert.Throws<CudaUnavailableException>(() => CudaLibraries.LoadDriver(env));
        Assert.Contains($"{dir}/libcuda.so.1: exists but failed to load (", e.Message, StringComparison.Ordinal);
        Assert.Contains($"{dir}/: no libcuda.so", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }

    internal static void SkipWhenDriverPresent()
    {
        bool present = System.Runtime.InteropServices.NativeLibrary.TryLoad("libcuda.so.1", out var h);
        if (present) System.Runtime.InteropServices.NativeLibrary.Free(h);
        Assert.SkipWhen(present, "this machine has a CUDA driver (libcuda.so.1), so the no-driver messages cannot be checked here");
    }
}
