using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using LearningCurves.Kernels.Native;
using LearningCurves.Tests.Common;
using Xunit;

namespace LearningCurves.Kernels.Tests;

/// <summary>
/// The real NVRTC (CUDA 11.8 from Debian's non-free component, fetched by `build.ps1 setup`/`test` into the project
/// cache) compiling kernels.cu through the engine's own KernelCompiler, no GPU needed; and the cubins' resources
/// (registers, spills, stack, static shared memory) against the launch configurations CudaBackend uses.
/// </summary>
public partial class NvrtcTests
{
    /// <summary>NVRTC loaded, or a skip saying how to get it.</summary>
    internal static void LoadNvrtc()
    {
        try
        {
            CudaLibraries.LoadNvrtc();
        }
        catch (CudaUnavailableException e)
        {
            Assert.Skip($"NVRTC is not installed ('dotnet pwsh ./build.ps1 setup' fetches CUDA 11.8's from Debian): {e.Message}");
        }
    }

    /// <summary>Where setup put cuobjdump and ptxas: LC_CUDA_TOOLS, else the project cache's cuda-11.8.</summary>
    internal static string ToolsDir()
    {
        var env = Environment.GetEnvironmentVariable("LC_CUDA_TOOLS");
        if (!string.IsNullOrEmpty(env)) return env;
        var cache = Environment.GetEnvironmentVariable("LEARNING_CURVES_CACHE");
        if (string.IsNullOrEmpty(cache)) cache = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "learning-curves");
        return Path.Combine(cache, "cuda-11.8");
    }

    [Theory]
    [InlineData(80)]
    [InlineData(90)]
    public void The_engines_compiler_builds_kernels_cu_for_sm80_and_sm90(int arch)
    {
        LoadNvrtc();
        var (major, minor) = KernelCompiler.NvrtcVersion();
        Assert.Contains(arch, KernelCompiler.SupportedArchs());
        var dir = TestPaths.TempDir();
        var log = new StringWriter();
        var image = KernelCompiler.GetImage(arch, KernelCompiler.EmbeddedSource(), log, dir);
        Assert.Contains($"NVRTC {major}.{minor} compiled kernels.cu for sm_{arch}", log.ToString(), StringComparison.Ordinal);
        var cubin = Cubin.Parse(image);
        Assert.Equal(arch, cubin.Arch);
        foreach (var name in CudaBackend.KernelNames)
            Assert.True(cubin.Functions.ContainsKey(name), $"sm_{arch} cubin has no kernel {name}; it has {string.Join(", ", cubin.Functions.Keys)}");
        // The second call comes from the cache, byte for byte.
        var again = new StringWriter();
        Assert.Equal(image, KernelCompiler.GetImage(arch, KernelCompiler.EmbeddedSource(), again, dir));
        Assert.StartsWith("kernels: cached image ", again.ToString(), StringComparison.Ordinal);
        // PTX for the same arch (the path for devices newer than this NVRTC): no warnings in the log.
        var options = KernelCompiler.BaseOptions.Append($"--gpu-architecture=compute_{arch}").ToArray();
        var ptx = Encoding.UTF8.GetString(KernelCompiler.Compile(KernelCompiler.EmbeddedSource(), options, cubin: false, out var ptxLog));
        Assert.Contains($".target sm_{arch}", ptx, StringComparison.Ordinal);
        Assert.Equal("(no log)", ptxLog);
    }

    [Fact]
    public void The_kernel_cache_is_written_without_a_log_writer()
    {
        LoadNvrtc();
        var dir = TestPaths.TempDir();
        var image = KernelCompiler.GetImage(80, KernelCompiler.EmbeddedSource(), log: null, dir);
        var files = Directory.GetFiles(dir);
        var file = Assert.Single(files);
        Assert.Matches(@"kernels-[0-9a-f]{16}-sm_80-nvrtc\d+\.\d+\.cubin$", file);
        Assert.Equal(image, File.ReadAllBytes(file));
    }

    [Fact]
    public void A_compile_error_carries_nvrtcs_log()
    {
        LoadNvrtc();
        var e = Assert.Throws<CudaException>(() => KernelCompiler.Compile("extern \"C\" __global__ void k(float* x) { x[0] = undefined_name; }",
            KernelCompiler.BaseOptions.Append("--gpu-architecture=sm_80").ToArray(), cubin: true));
        Assert.Contains("nvrtcCompileProgram", e.Message, StringComparison.Ordinal);
        Assert.Contains("undefined_name", e.Message, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"Function (\w+):\s*\n\s*REG:(\d+) STACK:(\d+) SHARED:(\d+) LOCAL:(\d+)")]
    private static partial Regex ResUsage();

    [GeneratedRegex(@"Function properties for (\w+)\s*\n\S*\s*\.\s*(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")]
    private static partial Regex PtxasProperties();

    /// <summary>One kernel's resources in one cubin.</summary>
    internal sealed record KernelResources(string Name, int Arch, int Registers, int Stack, int StaticShared, int Local, int SpillStores, int SpillLoads);

    /// <summary>
    /// Every kernel of the engine's cubins for sm_80 and sm_90, read by cuobjdump -res-usage (registers, stack, shared
    /// memory including the driver's reserved 1 KiB on sm_80+, local memory), with ptxas's spill counts from the
    /// same compile run with --ptxas-options=-v. Fails on any spill or local memory, and on any launch CudaBackend
    /// makes that a GPU would refuse: more than 1024 threads, more registers than a block may hold (64 Ki, allocated
    /// per warp in units of 256), more static + dynamic shared memory than 48 KiB (the backend never opts in to more).
    /// The table goes to artifacts/cubin-resources.md (docs/cuda.md carries it).
    /// </summary>
    [Fact]
    public async Task Cubin_resources_fit_every_launch_configuration()
    {
        LoadNvrtc();
        var cuobjdump = Path.Combine(ToolsDir(), "bin", "cuobjdump");
        Assert.SkipUnless(File.Exists(cuobjdump), $"{cuobjdump} is absent ('dotnet pwsh ./build.ps1 setup' fetches it)");
        var ct = TestContext.Current.CancellationToken;
        var source = KernelCompiler.EmbeddedSource();
        var rows = new List<KernelResources>();
        foreach (int arch in new[] { 80, 90 })
        {
            var dir = TestPaths.TempDir();
            var image = KernelCompiler.GetImage(arch, source, null, dir);
            var path = Path.Combine(dir, $"kernels.sm_{arch}.cubin");
            await File.WriteAllBytesAsync(path, image, ct);
            var psi = new ProcessStartInfo(cuobjdump) { RedirectStandardOutput = true, RedirectStandardError = true };
            psi.ArgumentList.Add("-res-usage");
            psi.ArgumentList.Add(path);
            using var p = Process.Start(psi)!;
            var err = p.StandardError.ReadToEndAsync(ct);
            var text = await p.StandardOutput.ReadToEndAsync(ct);
            await p.WaitForExitAsync(ct);
            Assert.True(p.ExitCode == 0, $"cuobjdump -res-usage failed (exit {p.ExitCode}): {await err}");

            var options = KernelCompiler.BaseOptions.Append($"--gpu-architecture=sm_{arch}").Append("--ptxas-options=-v").ToArray();
            KernelCompiler.Compile(source, options, cubin: true, out var ptxasLog);
            var spills = PtxasProperties().Matches(ptxasLog).ToDictionary(m => m.Groups[1].Value,
                m => (Stack: Int(m.Groups[2]), Stores: Int(m.Groups[3]), Loads: Int(m.Groups[4])), StringComparer.Ordinal);
            var cubin = Cubin.Parse(image);
            foreach (Match m in ResUsage().Matches(text))
            {
                var name = m.Groups[1].Value;
                Assert.True(spills.TryGetValue(name, out var s), $"ptxas reported nothing for {name}:\n{ptxasLog}");
                var row = new KernelResources(name, arch, Int(m.Groups[2]), Int(m.Groups[3]), Int(m.Groups[4]), Int(m.Groups[5]), s.Stores, s.Loads);
                // The cubin's own records (its .nv.info attributes and .nv.shared sections) agree with cuobjdump.
                var f = cubin.Functions[name];
                Assert.True(f.Registers == row.Registers && f.FrameBytes == row.Stack && f.StaticShared == row.StaticShared,
                    $"{name} sm_{arch}: the ELF says {f.Registers} registers, {f.FrameBytes} bytes frame, {f.StaticShared} bytes shared; cuobjdump: {row}");
                rows.Add(row);
            }
            foreach (var name in CudaBackend.KernelNames)
                Assert.True(rows.Any(r => r.Arch == arch && r.Name == name), $"cuobjdump listed no {name} for sm_{arch}:\n{text}");
        }

        var table = new StringBuilder();
        table.AppendLine("| kernel | sm_80 regs | sm_90 regs | stack | spill st/ld | static shared (sm_80 / sm_90) | dynamic shared (max) | launched |");
        table.AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- |");
        var launchedByBackend = BindingsTests.LaunchedKernels();
        foreach (var g in rows.GroupBy(r => r.Name).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var a = g.Single(r => r.Arch == 80);
            var b = g.Single(r => r.Arch == 90);
            bool launched = launchedByBackend.Contains(g.Key);
            table.AppendLine(CultureInfo.InvariantCulture, $"| {g.Key} | {a.Registers} | {b.Registers} | {Math.Max(a.Stack, b.Stack)} | {a.SpillStores + b.SpillStores}/{a.SpillLoads + b.SpillLoads} | {a.StaticShared} / {b.StaticShared} | {CudaBackend.MaxDynamicShared(g.Key)} | {(launched ? "yes" : "no")} |");
        }
        var outDir = Path.Combine(TestPaths.RepoRoot, "artifacts");
        Directory.CreateDirectory(outDir);
        await File.WriteAllTextAsync(Path.Combine(outDir, "cubin-resources.md"), table.ToString(), ct);
        TestContext.Current.TestOutputHelper?.WriteLine(table.ToString());

        var problems = new List<string>();
        foreach (var r in rows)
        {
            if (r.SpillStores > 0 || r.SpillLoads > 0) problems.Add($"{r.Name} sm_{r.Arch}: spills {r.SpillStores} bytes stored, {r.SpillLoads} loaded");
            if (r.Local > 0 || r.Stack > 0) problems.Add($"{r.Name} sm_{r.Arch}: {r.Local} bytes local memory, {r.Stack} bytes stack");
            if (!CudaBackend.KernelNames.Contains(r.Name)) continue;
            int threads = CudaBackend.LaunchThreads(r.Name);
            int warps = (threads + 31) / 32;
            long regsPerBlock = warps * (((long)r.Registers * 32 + 255) / 256 * 256);
            long shared = r.StaticShared + CudaBackend.MaxDynamicShared(r.Name);
            if (threads > 1024) problems.Add($"{r.Name}: {threads} threads per block");
            if (regsPerBlock > 65536) problems.Add($"{r.Name} sm_{r.Arch}: {r.Registers} registers x {threads} threads = {regsPerBlock} > 65536");
            if (shared > 48 * 1024) problems.Add($"{r.Name} sm_{r.Arch}: {r.StaticShared} static + {CudaBackend.MaxDynamicShared(r.Name)} dynamic shared bytes > 48 KiB");
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems) + "\n" + table);
    }

    private static int Int(Group g) => int.Parse(g.Value, CultureInfo.InvariantCulture);
}
