using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
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

    private static readonly string[] Inputs =
        ["kernels.cu", "tests/kernel-emu/cuda_emu.h", "tests/kernel-emu/kernels_emu.cpp", "tests/kernel-emu/build.sh"];

    private static readonly Lazy<(string? Path, string? SkipReason)> Built = new(Build, LazyThreadSafetyMode.ExecutionAndPublication);
    private static int _resolverSet;

    /// <summary>Makes sure the library is built and loadable; skips the calling test where no compiler exists.</summary>
    public static void Require()
    {
        var (path, skip) = Built.Value;
        Assert.SkipWhen(path is null, skip ?? "kernel emulator unavailable");
        if (Interlocked.Exchange(ref _resolverSet, 1) == 0)
        {
            // Only our library name is resolved here; everything else falls through to the default probing.
            NativeLibrary.SetDllImportResolver(typeof(EmuLibrary).Assembly, (name, _, _) =>
                name == LibraryName ? NativeLibrary.Load(path!) : IntPtr.Zero);
        }
    }

    /// <summary>Throws with the emulator's message when a launch returned an error.</summary>
    public static void Check(int rc, string kernel)
    {
        if (rc != 0)
            throw new InvalidOperationException($"{kernel}: {Marshal.PtrToStringUTF8(EmuNative.lc_emu_last_error())}");
    }

    private static (string?, string?) Build()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
            return (null, "the kernel emulator builds with bash and g++ (Linux); this OS has neither");
        var cxx = Environment.GetEnvironmentVariable("CXX") ?? "g++";
        if (FindOnPath(cxx) is null) return (null, $"no C++ compiler '{cxx}' on PATH: the kernel emulator cannot be built");
        var root = TestPaths.RepoRoot;
        using var sha = SHA256.Create();
        foreach (var rel in Inputs)
        {
            var bytes = File.ReadAllBytes(Path.Combine(root, rel));
            sha.TransformBlock(Encoding.UTF8.GetBytes(rel), 0, rel.Length, null, 0);
            sha.TransformBlock(bytes, 0, bytes.Length, null, 0);
        }
        sha.TransformFinalBlock([], 0, 0);
        var hash = Convert.ToHexStringLower(sha.Hash!)[..16];
        var dir = Path.Combine(root, "artifacts", "kernel-emu", hash);
        var lib = Path.Combine(dir, "liblc_kernel_emu.so");
        if (File.Exists(lib)) return (lib, null);
        Directory.CreateDirectory(dir);
        // Build to a private name and rename: a concurrent test process never loads a half-written library.
        var tmp = Path.Combine(dir, $"build-{Environment.ProcessId}-{Guid.NewGuid():N}.so");
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(root, "tests/kernel-emu/build.sh"));
        psi.ArgumentList.Add(tmp);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"building the kernel emulator failed (exit {p.ExitCode}):\n{stdout}{stderr.Result}");
        File.Move(tmp, lib, overwrite: true);
        return (lib, null);
    }

    private static string? FindOnPath(string exe)
    {
        if (Path.IsPathRooted(exe)) return File.Exists(exe) ? exe : null;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
        {
            var full = Path.Combine(dir, exe);
            if (File.Exists(full)) return full;
        }
        return null;
    }
}

/// <summary>Launch geometry, as CUDA's dim3.</summary>
[StructLayout(LayoutKind.Sequential)]
internal readonly record struct Dim3(uint X, uint Y = 1, uint Z = 1)
{
    public static implicit operator Dim3(int x) => new((uint)x);
}

/// <summary>The emulator's C ABI: one launch_KERNEL(grid, block, sharedBytes, kernel arguments...) per kernel of
/// kernels.cu. Pointers are host addresses standing in for device pointers. Each returns 0 or -1 (see
/// <see cref="EmuLibrary.Check"/>).</summary>
internal static partial class EmuNative
{
    [LibraryImport(EmuLibrary.LibraryName)]
    internal static partial nint lc_emu_last_error();

    [LibraryImport(EmuLibrary.LibraryName)]
    internal static partial int launch_embed_forward(Dim3 grid, Dim3 block, uint shared, nint output, nint tokens, nint wte, nint wpe, int b, int t, int c);

    [LibraryImport(EmuLibrary.LibraryName)]
    internal static partial int launch_layernorm_forward(Dim3 grid, Dim3 block, uint shared, nint output, nint input, nint weight, nint bias, int rows, int c, float eps);

    [LibraryImport(EmuLibrary.LibraryName)]
    internal static partial int launch_bias_add(Dim3 grid, Dim3 block, uint shared, nint x, nint bias, int rows, int cols);

    [LibraryImport(EmuLibrary.LibraryName)]
    internal static partial int launch_gelu_erf_forward(Dim3 grid, Dim3 block, uint shared, nint x, long n);

    [LibraryImport(EmuLibrary.LibraryName)]
    internal static partial int launch_rotary_forward(Dim3 grid, Dim3 block, uint shared, nint qkv, nint cos, nint sin, int b, int t, int c, int heads, int r);

    [LibraryImport(EmuLibrary.LibraryName)]
    internal static partial int launch_bias_gelu_forward(Dim3 grid, Dim3 block, uint shared, nint x, nint bias, int rows, int cols);

    [LibraryImport(EmuLibrary.LibraryName)]
    internal static partial int launch_residual_add(Dim3 grid, Dim3 block, uint shared, nint x, nint y, long n);

    [LibraryImport(EmuLibrary.LibraryName)]
    internal static partial int launch_residual_bias_add(Dim3 grid, Dim3 block, uint shared, nint x, nint y, nint bias, int rows, int cols);

    [LibraryImport(EmuLibrary.LibraryName)]
    internal static partial int launch_gather_rows(Dim3 grid, Dim3 block, uint shared, nint output, nint input, nint rows, int count, int c);

    [LibraryImport(EmuLibrary.LibraryName)]
    internal static partial int launch_qkv_split_heads(Dim3 grid, Dim3 block, uint shared, nint q, nint k, nint v, nint qkv, int b, int t, int nh, int hs);

    [LibraryImport(EmuLibrary.LibraryName)]
    internal static partial int launch_merge_heads(Dim3 grid, Dim3 block, uint shared, nint output, nint y, int b, int t, int nh, int hs);

    [LibraryImport(EmuLibrary.LibraryName)]
    internal static partial int launch_softmax_causal(Dim3 grid, Dim3 block, uint shared, nint att, int bh, int tq, int tk, int past, float scale);

    [LibraryImport(EmuLibrary.LibraryName)]
    internal static partial int launch_attention_fused(Dim3 grid, Dim3 block, uint shared, nint output, nint qkv, int b, int t, int nh, int hs, float scale);

    [LibraryImport(EmuLibrary.LibraryName)]
    internal static partial int launch_kv_cache_write(Dim3 grid, Dim3 block, uint shared, nint kCache, nint vCache, nint qkv, int b, int tNew, int past, int maxT, int c);

    [LibraryImport(EmuLibrary.LibraryName)]
    internal static partial int launch_attention_cached(Dim3 grid, Dim3 block, uint shared, nint output, nint qkv, nint kCache, nint vCache,
        int b, int tNew, int past, int maxT, int nh, int hs, float scale);

    [LibraryImport(EmuLibrary.LibraryName)]
    internal static partial int launch_surprisal_chunk(Dim3 grid, Dim3 block, uint shared, nint state, nint logits, nint targets, int m, int cols, int ld, int chunkStart);

    [LibraryImport(EmuLibrary.LibraryName)]
    internal static partial int launch_surprisal_finish(Dim3 grid, Dim3 block, uint shared, nint output, nint state, int m);

    [LibraryImport(EmuLibrary.LibraryName)]
    internal static partial int launch_convert_f32_to_bf16(Dim3 grid, Dim3 block, uint shared, nint output, nint input, long n);

    [LibraryImport(EmuLibrary.LibraryName)]
    internal static partial int launch_convert_bf16_to_f32(Dim3 grid, Dim3 block, uint shared, nint output, nint input, long n);


    [LibraryImport(EmuLibrary.LibraryName)]
    internal static partial int launch_attention_bf16_hs64(Dim3 grid, Dim3 block, uint shared, nint output, nint qkv, int b, int t, int nh, int hs, float scale);

    [LibraryImport(EmuLibrary.LibraryName)]
    internal static partial int launch_attention_bf16_hs128(Dim3 grid, Dim3 block, uint shared, nint output, nint qkv, int b, int t, int nh, int hs, float scale);

    [LibraryImport(EmuLibrary.LibraryName)]
    internal static partial int launch_attention_tf32_hs64(Dim3 grid, Dim3 block, uint shared, nint output, nint qkv, int b, int t, int nh, int hs, float scale);

    [LibraryImport(EmuLibrary.LibraryName)]
    internal static partial int launch_attention_tf32_hs128(Dim3 grid, Dim3 block, uint shared, nint output, nint qkv, int b, int t, int nh, int hs, float scale);

    [LibraryImport(EmuLibrary.LibraryName)]
    internal static partial int launch_attention_fp32_hs64(Dim3 grid, Dim3 block, uint shared, nint output, nint qkv, int b, int t, int nh, int hs, float scale);

    [LibraryImport(EmuLibrary.LibraryName)]
    internal static partial int launch_attention_fp32_hs128(Dim3 grid, Dim3 block, uint shared, nint output, nint qkv, int b, int t, int nh, int hs, float scale);

    [LibraryImport(EmuLibrary.LibraryName)]
    internal static partial int launch_attention_fused_bf16(Dim3 grid, Dim3 block, uint shared, nint output, nint qkv, int b, int t, int nh, int hs, float scale);

    [LibraryImport(EmuLibrary.LibraryName)]
    internal static partial int launch_kv_cache_write_bf16(Dim3 grid, Dim3 block, uint shared, nint kCache, nint vCache, nint qkv, int b, int tNew, int past, int maxT, int c);

    [LibraryImport(EmuLibrary.LibraryName)]
    internal static partial int launch_attention_cached_bf16(Dim3 grid, Dim3 block, uint shared, nint output, nint qkv, nint kCache, nint vCache,
        int b, int tNew, int past, int maxT, int nh, int hs, float scale);

    [LibraryImport(EmuLibrary.LibraryName)]
    internal static partial int launch_emu_selftest_mma_bf16(Dim3 grid, Dim3 block, uint shared, nint d, nint a, nint b, nint c, int mode);

    [LibraryImport(EmuLibrary.LibraryName)]
    internal static partial int launch_emu_selftest_mma_tf32(Dim3 grid, Dim3 block, uint shared, nint d, nint a, nint b, nint c, int mode);

    [LibraryImport(EmuLibrary.LibraryName)]
    internal static partial int launch_emu_selftest_shuffles(Dim3 grid, Dim3 block, uint shared, nint output);

    [LibraryImport(EmuLibrary.LibraryName)]
    internal static partial int launch_emu_selftest_barrier(Dim3 grid, Dim3 block, uint shared, nint output);

    [LibraryImport(EmuLibrary.LibraryName)]
    internal static partial int launch_emu_selftest_deadlock(Dim3 grid, Dim3 block, uint shared, nint output);

    [LibraryImport(EmuLibrary.LibraryName)]
    internal static partial int launch_sgemm_tiled(Dim3 grid, Dim3 block, uint shared, nint c, nint a, nint b, nint bias,
        int m, int n, int k, int lda, int ldb, int ldc, int transB, long strideA, long strideB, long strideC, float alpha);
}
