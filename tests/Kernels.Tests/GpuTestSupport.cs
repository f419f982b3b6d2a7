using System.Diagnostics;
using System.Globalization;
using LearningCurves.Engine.Backends;
using LearningCurves.Kernels.Native;
using Xunit;

namespace LearningCurves.Kernels.Tests;

/// <summary>Opening the GPU for a test (or skipping it with the reason), random data and comparisons.</summary>
internal static class GpuTestSupport
{
    /// <summary>A CUDA backend, or a skip saying why there is none.</summary>
    public static CudaBackend Open(Precision p = Precision.Fp32)
    {
        try
        {
            return new CudaBackend(p);
        }
        catch (CudaUnavailableException e)
        {
            // Where build.ps1 test put the software GPU in place, a missing device is a failure, not a reason to skip.
            if (Environment.GetEnvironmentVariable("LC_SOFTWARE_GPU") is { Length: > 0 } sw)
                Assert.Fail($"the software GPU in {sw} did not open: {e.Message}");
            Assert.Skip($"no usable CUDA GPU: {e.Message}");
            throw; // unreachable: Skip throws
        }
    }

    /// <summary>The software GPU (tests/software-gpu) reports this device name.</summary>
    public const string SoftwareGpuName = "software GPU (emulated)";

    /// <summary>True on the software GPU: timings and the real cuBLAS's rounding mean nothing there.</summary>
    public static bool IsSoftwareGpu(CudaBackend be) => be.Device.Name == SoftwareGpuName;

    /// <summary>Skips what only real hardware can show (trait Hardware=Real), saying so, on the software GPU.</summary>
    public static void SkipUnlessRealGpu(CudaBackend be, string what) =>
        Assert.SkipWhen(IsSoftwareGpu(be), $"{what}: only a real GPU can show this (running on the {SoftwareGpuName})");

    /// <summary>Runs `learning-curves ARGS` in a process on a software GPU told it has <paramref name="cardMib"/> MiB
    /// (<c>LC_SOFTGPU_MEMORY_MIB</c>), at most two minutes: its exit code, standard output and standard error.</summary>
    public static async Task<(int Exit, string Stdout, string Stderr)> RunCliOnCard(int cardMib, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "learning-curves.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["LC_SOFTGPU_MEMORY_MIB"] = cardMib.ToString(CultureInfo.InvariantCulture);
        using var proc = Process.Start(psi)!;
        var ct = TestContext.Current.CancellationToken;
        var errRead = proc.StandardError.ReadToEndAsync(ct);
        var outRead = proc.StandardOutput.ReadToEndAsync(ct);
        using (var limit = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            limit.CancelAfter(TimeSpan.FromMinutes(2));
            await proc.WaitForExitAsync(limit.Token);
        }
        return (proc.ExitCode, await outRead, await errRead);
    }

    public static float[] Normal(Random rng, long n, float std = 1f)
    {
        var a = new float[n];
        for (long i = 0; i < n; i++)
            a[i] = std * (float)(Math.Sqrt(-2.0 * Math.Log(1.0 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        return a;
    }

    /// <summary>A device buffer filled with NaN, so anything a kernel fails to write shows up.</summary>
    public static IDeviceBuffer Poisoned(IBackend be, long n, DType type = DType.F32)
    {
        var buf = be.Allocate(n, type);
        var nan = new float[n];
        Array.Fill(nan, float.NaN);
        be.Write(buf, nan);
        return buf;
    }

    public static float[] Get(IBackend be, IDeviceBuffer b, long n)
    {
        var r = new float[n];
        be.Download(b, r);
        return r;
    }

    /// <summary>|got - want| &lt;= atol + rtol |want| everywhere, a NaN never matching: the GPU must not make NaNs.</summary>
    public static void AssertClose(ReadOnlySpan<float> want, ReadOnlySpan<float> got, double atol, double rtol, string context) =>
        EmuTestUtil.AssertClose(want, got, atol, rtol, context, nanMatchesNan: false);
}

/// <summary>The GPU tests run one at a time: they share the device's primary context (and, on the software GPU, its
/// sticky errors and failure injection).</summary>
[CollectionDefinition("GPU", DisableParallelization = true)]
public sealed class GpuCollection;
