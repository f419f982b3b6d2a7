using System.Runtime.InteropServices;
using LearningCurves.Tests.Common;
using Xunit;

namespace LearningCurves.Kernels.Tests;

/// <summary>
/// The kernel emulator library (kernels.cu compiled by g++ against tests/kernel-emu/cuda_emu.h). Built on first use
/// by tests/kernel-emu/build.sh into artifacts/kernel-emu/HASH/, HASH covering every input file, so an edit of
/// kernels.cu or the emulator rebuilds it and an unchanged tree reuses it. Tests needing it skip only where no C++
/// compiler exists; a compile error fails them with the compiler's output.
/// </summary>
internal static class EmuLibrary
{
    public const string LibraryName = "lc_kernel_emu";

    private static readonly NativeBuild Built = new("kernel-emu", Environment.GetEnvironmentVariable("CXX") ?? "g++",
        "tests/kernel-emu/build.sh", "liblc_kernel_emu.so",
        "kernels.cu", "tests/kernel-emu/cuda_emu.h", "tests/kernel-emu/kernel_table.h", "tests/kernel-emu/kernels_emu.cpp",
        "tests/kernel-emu/kernel-list.sh");
    private static int _resolverSet;

    /// <summary>Makes sure the library is built and loadable; skips the calling test where no compiler exists.</summary>
    public static void Require()
    {
        var path = Built.Require();
        if (Interlocked.Exchange(ref _resolverSet, 1) == 0)
        {
            // Only our library name is resolved here; everything else falls through to the default probing.
            NativeLibrary.SetDllImportResolver(typeof(EmuLibrary).Assembly, (name, _, _) =>
                name == LibraryName ? NativeLibrary.Load(path) : IntPtr.Zero);
        }
    }

    /// <summary>Throws with the emulator's message when a launch returned an error.</summary>
    public static void Check(int rc, string kernel)
    {
        if (rc != 0)
            throw new InvalidOperationException($"{kernel}: {Marshal.PtrToStringUTF8(EmuNative.lc_emu_last_error())}");
    }
}

/// <summary>Launch geometry, as CUDA's dim3.</summary>
[StructLayout(LayoutKind.Sequential)]
internal readonly record struct Dim3(uint X, uint Y = 1, uint Z = 1)
{
    public static implicit operator Dim3(int x) => new((uint)x);
}

/// <summary>The emulator's C ABI: one generic launch of any kernel of kernels.cu (plus the emulator's self-test
/// kernels) by name, each parameter in its own slot as cuLaunchKernel takes them; pointers are host addresses standing in
/// for device pointers. It returns 0 or -1 (see <see cref="EmuLibrary.Check"/>). Use <see cref="EmuKernels.Launch"/>,
/// which checks the arguments against kernels.cu's prototypes first.</summary>
internal static unsafe partial class EmuNative
{
    [LibraryImport(EmuLibrary.LibraryName)]
    internal static partial nint lc_emu_last_error();

    [LibraryImport(EmuLibrary.LibraryName, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int lc_emu_param_count(string kernel);

    [LibraryImport(EmuLibrary.LibraryName, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int lc_emu_launch(string kernel, Dim3 grid, Dim3 block, uint shared, void** args);
}
