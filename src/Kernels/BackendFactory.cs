using LearningCurves.Engine;
using LearningCurves.Engine.Backends;
using LearningCurves.Formats;

namespace LearningCurves.Kernels;

/// <summary>
/// Picks the backend for `--backend auto|cpu|cuda`. auto: CUDA when usable, else the CPU, saying which and why.
/// </summary>
public static class BackendFactory
{
    /// <summary>Parses `--precision fp32|tf32|bf16`.</summary>
    public static Precision ParsePrecision(string s) => s switch
    {
        "fp32" => Precision.Fp32,
        "tf32" => Precision.Tf32,
        "bf16" => Precision.Bf16,
        _ => throw new UserError($"--precision must be fp32, tf32 or bf16 (got '{s}')"),
    };

    public static string Describe(Precision p) => p switch
    {
        Precision.Fp32 => "fp32",
        Precision.Tf32 => "tf32",
        _ => "bf16",
    };

    /// <summary>Creates the backend named <paramref name="name"/>; <paramref name="log"/> gets one line saying which
    /// backend runs and, for auto, why.</summary>
    public static IBackend Create(string name, Precision precision, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(log);
        switch (name)
        {
            case "cpu":
                return Cpu(precision, log, "");
            case "cuda":
                {
                    var cuda = Cuda(precision, log);
                    log.WriteLine($"backend: cuda ({cuda.DeviceName})");
                    return cuda;
                }
            case "auto":
                try
                {
                    var cuda = Cuda(precision, log);
                    log.WriteLine($"backend: cuda ({cuda.DeviceName}), chosen by --backend auto");
                    return cuda;
                }
                catch (UserError e)
                {
                    return Cpu(precision, log, $", chosen by --backend auto because CUDA is not usable: {e.Message}");
                }
            default:
                throw new UserError($"--backend must be auto, cpu or cuda (got '{name}')");
        }
    }

    private static CpuBackend Cpu(Precision precision, TextWriter log, string why)
    {
        var cpu = new CpuBackend(precision);
        log.WriteLine($"backend: cpu{why}");
        return cpu;
    }

    /// <summary>The CUDA backend on device 0. Anything missing (driver, device, NVRTC, cuBLAS) is a
    /// <see cref="Native.CudaUnavailableException"/> (a UserError, exit 2) listing what was tried; a failed CUDA call
    /// while starting up is reported the same way, as one line naming the call.</summary>
    private static IBackend Cuda(Precision precision, TextWriter? log = null)
    {
        try
        {
            return new CudaBackend(precision, 0, log);
        }
        catch (Native.CudaException e)
        {
            throw new UserError($"the CUDA backend could not start: {e.Message}", e);
        }
        catch (DllNotFoundException e)
        {
            throw new Native.CudaUnavailableException($"a CUDA library could not be loaded ({e.Message})", Native.CudaLibraries.Trace);
        }
        catch (EntryPointNotFoundException e)
        {
            throw new Native.CudaUnavailableException($"a CUDA library is too old ({e.Message})", Native.CudaLibraries.Trace);
        }
    }
}
