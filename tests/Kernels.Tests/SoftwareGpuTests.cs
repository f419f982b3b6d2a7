using System.Runtime.InteropServices;
using System.Globalization;
using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.Model;
using LearningCurves.Kernels.Native;
using LearningCurves.Tests.Common;
using Xunit;
using static LearningCurves.Kernels.Tests.GpuTestSupport;

namespace LearningCurves.Kernels.Tests;

/// <summary>
/// The software GPU itself (tests/software-gpu: libcuda.so.1 and libcublas.so.12 over the kernel emulator), and the
/// backend's behaviour that only its checks can show: a constructor failing half way, launches the driver refuses,
/// images it refuses, out-of-bounds writes and use after free caught, work that runs only at synchronisation points.
/// Run where `build.ps1 test` put the software GPU on the loader's path; skip elsewhere (a real GPU included).
/// </summary>
[Trait("Category", "Gpu")]
[Collection("GPU")]
public unsafe class SoftwareGpuTests
{
    private static IntPtr Driver()
    {
        Assert.SkipWhen(Environment.GetEnvironmentVariable("LC_SOFTWARE_GPU") is null, "the software GPU is not in use (source artifacts/software-gpu/env.sh)");
        using var probe = Open();
        Assert.True(IsSoftwareGpu(probe), $"LC_SOFTWARE_GPU is set but the device is {probe.DeviceName}");
        return NativeLibrary.Load(CudaLibraries.LoadedFrom[CudaLibraries.Driver]);
    }

    /// <summary>The built `learning-curves` runner as its own process (this assembly does not reference the Runner),
    /// on the same software GPU: the loader path and LC_SOFTWARE_GPU are inherited.</summary>
    private static (int Code, string Output) RunRunner(params string[] args)
    {
        string dll = Path.Combine(TestPaths.RepoRoot, "src", "Runner", "bin", "Release", "net10.0", "learning-curves.dll");
        if (!File.Exists(dll)) dll = Path.Combine(TestPaths.RepoRoot, "src", "Runner", "bin", "Debug", "net10.0", "learning-curves.dll");
        Assert.True(File.Exists(dll), $"the runner is not built ({dll}); build the solution first");
        var psi = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = System.Diagnostics.Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(600_000), "the runner did not finish in 10 minutes");
        return (p.ExitCode, stdout + err.Result);
    }

    private static (long Allocations, long Pinned, long Modules, long Streams, long Events, long ContextRefs) Live(IntPtr driver)
    {
        var f = (delegate* unmanaged<long*, long*, long*, long*, long*, long*, void>)NativeLibrary.GetExport(driver, "lcsg_live_objects");
        long a, p, m, s, e, r;
        f(&a, &p, &m, &s, &e, &r);
        return (a, p, m, s, e, r);
    }

    [Fact]
    public void The_device_is_the_software_gpu_with_a_small_fixed_memory()
    {
        Driver();
        using var be = Open();
        Assert.Equal(SoftwareGpuName, be.Device.Name);
        Assert.Equal(90, be.Device.Arch);
        Assert.StartsWith("software GPU (emulated) (sm_90, ", be.DeviceName, StringComparison.Ordinal);
        Assert.True(be.Device.TotalMemoryBytes <= 4L << 30, be.DeviceName);
        long free = be.FreeMemoryBytes!.Value;
        using (be.Allocate(1 << 20, DType.F32)) Assert.True(be.FreeMemoryBytes < free, "an allocation must lower the free memory");
        Assert.Contains("software GPU: loaded a cubin for sm_90", be.Device.JitInfoLog, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("cuMemHostAlloc", 2)]
    [InlineData("cuModuleLoadDataEx", 1)]
    [InlineData("cuEventCreate", 2)]
    public void A_constructor_that_fails_after_the_device_opened_frees_what_it_made(string call, int nth)
    {
        var driver = Driver();
        // Another holder of the primary context keeps it alive, so leaked objects would stay visible.
        using var keep = CudaDevice.Open();
        var before = Live(driver);
        FailNth(driver, call, nth);
        try
        {
            Assert.Throws<CudaException>(() => new CudaBackend());
        }
        finally
        {
            FailNth(driver, "", 0);
        }
        // No GC in between: what the constructor made is gone without the finalizers.
        Assert.Equal(before, Live(driver));
    }

    /// <summary>Makes the nth call of <paramref name="call"/> from now fail (CUDA_ERROR_UNKNOWN); nth 0 clears it.</summary>
    private static void FailNth(IntPtr driver, string call, int nth)
    {
        var f = (delegate* unmanaged<byte*, int, void>)NativeLibrary.GetExport(driver, "lcsg_fail_nth");
        var name = System.Text.Encoding.UTF8.GetBytes(call + "\0");
        fixed (byte* n = name) f(n, nth);
    }

    /// <summary>The module of the backend's own kernels, and a launch of one by name with raw 8-byte slots.</summary>
    private static int RawLaunch(CudaDevice dev, CudaModuleHandle module, string kernel, uint grid, uint block, uint shared, params ulong[] args)
    {
        var f = dev.GetFunction(module, kernel);
        ulong* slots = stackalloc ulong[args.Length];
        void** ptrs = stackalloc void*[args.Length];
        for (int i = 0; i < args.Length; i++)
        {
            slots[i] = args[i];
            ptrs[i] = slots + i;
        }
        dev.MakeCurrent();
        return CuApi.cuLaunchKernel(f, grid, 1, 1, block, 1, 1, shared, dev.Stream, ptrs, null);
    }

    [Fact]
    public void Launches_and_images_the_driver_refuses_are_refused()
    {
        Driver();
        using var dev = CudaDevice.Open();
        var image = KernelCompiler.GetImage(dev, KernelCompiler.EmbeddedSource(), null);
        using var module = dev.LoadModule(image);
        using var x = dev.Allocate(4096);
        const int invalidValue = 1, notFound = 500;
        Assert.Equal(0, RawLaunch(dev, module, "residual_add", 1, 256, 0, x.Pointer, x.Pointer, 1000));
        Assert.Equal(invalidValue, RawLaunch(dev, module, "residual_add", 1, 2048, 0, x.Pointer, x.Pointer, 1000));
        Assert.Equal(invalidValue, RawLaunch(dev, module, "residual_add", 0, 256, 0, x.Pointer, x.Pointer, 1000));
        // 48 KiB of shared memory per block without opting in; attention_fused has 4 KiB static.
        Assert.Equal(invalidValue, RawLaunch(dev, module, "attention_fused", 1, 256, 46 * 1024, x.Pointer, x.Pointer, 1, 1, 1, 1, 16, 0));
        dev.Synchronize();
        var e = Assert.Throws<CudaException>(() => dev.GetFunction(module, "no_such_kernel"));
        Assert.Equal(notFound, e.Code);
        Assert.Throws<CudaException>(() => dev.LoadModule(new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 }));
        var sm80 = KernelCompiler.Compile(KernelCompiler.EmbeddedSource(), KernelCompiler.BaseOptions.Append("--gpu-architecture=sm_80").ToArray(), cubin: true);
        var wrongArch = Assert.Throws<CudaException>(() => dev.LoadModule(sm80));
        Assert.Contains("CUDA_ERROR_NO_BINARY_FOR_GPU", wrongArch.Message, StringComparison.Ordinal);
    }

    /// <summary>A software GPU built from an older kernels.cu would read a changed kernel's arguments by its old
    /// prototype and compute garbage quietly: an image whose kernel parameters differ from the emulator's is refused,
    /// naming the kernel and the rebuild, as a cubin and as PTX.</summary>
    [Theory]
    [InlineData(true, "int extra, ")]   // one parameter more
    [InlineData(false, "int extra, ")]
    [InlineData(true, "")]              // same count, one size changed (long long n -> int n)
    public void An_image_whose_kernel_parameters_differ_from_the_emulator_is_refused(bool cubin, string extra)
    {
        Driver();
        using var dev = CudaDevice.Open();
        const string prototype = "residual_add(float* __restrict__ x, const float* __restrict__ y, long long n)";
        string source = KernelCompiler.EmbeddedSource();
        Assert.Contains(prototype, source, StringComparison.Ordinal);
        string changed = source.Replace(prototype,
            extra.Length > 0
                ? $"residual_add({extra}float* __restrict__ x, const float* __restrict__ y, long long n)"
                : "residual_add(float* __restrict__ x, const float* __restrict__ y, int n)", StringComparison.Ordinal);
        string arch = cubin ? "--gpu-architecture=sm_90" : "--gpu-architecture=compute_90";
        var image = KernelCompiler.Compile(changed, KernelCompiler.BaseOptions.Append(arch).ToArray(), cubin);
        var e = Assert.Throws<CudaException>(() => dev.LoadModule(image));
        Assert.Contains("residual_add takes parameters of", e.Message, StringComparison.Ordinal);
        Assert.Contains("build.ps1 software-gpu", e.Message, StringComparison.Ordinal);
        // The unchanged source, compiled the same way, loads.
        using var ok = dev.LoadModule(KernelCompiler.Compile(source, KernelCompiler.BaseOptions.Append(arch).ToArray(), cubin));
    }

    [Fact]
    public void An_out_of_bounds_write_and_a_use_after_free_are_caught_at_the_next_sync()
    {
        Driver();
        const int illegalAddress = 700;
        using (var dev = CudaDevice.Open())
        {
            using var module = dev.LoadModule(KernelCompiler.GetImage(dev, KernelCompiler.EmbeddedSource(), null));
            using var x = dev.Allocate(1000 * 4);
            using var y = dev.Allocate(2000 * 4);
            dev.Fill32(x.Pointer, 0, 1000);
            dev.Fill32(y.Pointer, 0x3f800000, 2000); // 1.0f: the sums change whatever they land on
            // residual_add over 1100 elements of a 1000-float buffer (rounded up to 4096 bytes: 1024 floats).
            Assert.Equal(0, RawLaunch(dev, module, "residual_add", 8, 256, 0, x.Pointer, y.Pointer, 1100));
            var e = Assert.Throws<CudaException>(dev.Synchronize);
            Assert.Equal(illegalAddress, e.Code);
        }
        // The error was sticky for that context only: a new one works.
        using (var dev = CudaDevice.Open())
        {
            using var module = dev.LoadModule(KernelCompiler.GetImage(dev, KernelCompiler.EmbeddedSource(), null));
            var x = dev.Allocate(256 * 4);
            using var y = dev.Allocate(256 * 4);
            dev.Fill32(y.Pointer, 0, 256);
            dev.Synchronize();
            ulong freed = x.Pointer;
            x.Dispose();
            Assert.Equal(0, RawLaunch(dev, module, "residual_add", 1, 256, 0, freed, y.Pointer, 256));
            var e = Assert.Throws<CudaException>(dev.Synchronize);
            Assert.Equal(illegalAddress, e.Code);
        }
    }

    [Fact]
    public void Queued_work_runs_only_at_synchronisation_points()
    {
        Driver();
        Assert.SkipWhen(Environment.GetEnvironmentVariable("LC_SOFTGPU_EAGER") == "1", "the software GPU runs eagerly (LC_SOFTGPU_EAGER=1)");
        using var dev = CudaDevice.Open();
        using var pin = dev.AllocatePinned(16);
        using var mem = dev.Allocate(16);
        var host = new Span<float>((void*)pin.Pointer, 4);
        host.Fill(1f);
        dev.CopyToDevice(mem.Pointer, pin.Pointer, 16);
        // Reusing the staging memory before the copy finished: on the software GPU the copy has not run yet.
        host.Fill(2f);
        dev.Synchronize();
        host.Fill(0f);
        dev.CopyToHost(pin.Pointer, mem.Pointer, 16);
        dev.Synchronize();
        Assert.Equal(new[] { 2f, 2f, 2f, 2f }, host.ToArray());
    }

    [Fact]
    public void Score_on_the_software_gpu_matches_the_cpu_over_several_batches()
    {
        Driver();
        using var be = Open();
        using var cpu = new CpuBackend();
        var cfg = new Engine.Model.ModelConfig { VocabSize = 211, MaxPositions = 40, Embd = 48, Layers = 2, Heads = 3 };
        int seed = Random.Shared.Next();
        var weights = Engine.Model.ModelWeights.Random(cfg, seed);
        var rng = new Random(seed);
        var seqs = Enumerable.Range(0, 3).Select(i => Enumerable.Range(0, 5 + 13 * i).Select(_ => rng.Next(cfg.VocabSize)).ToArray()).ToArray();
        using var gpu = new Engine.Model.DecoderModel(be, weights);
        using var host = new Engine.Model.DecoderModel(cpu, weights);
        var got = gpu.ScoreAll(seqs);
        var want = host.ScoreAll(seqs);
        for (int s = 0; s < seqs.Length; s++) AssertClose(want[s], got[s], 1e-4, 1e-4, $"sequence {s} seed {seed}");
        var launches = (delegate* unmanaged<byte*, long>)NativeLibrary.GetExport(NativeLibrary.Load(CudaLibraries.LoadedFrom[CudaLibraries.Driver]), "lcsg_launches");
        Assert.True(launches(null) > 0);
    }

    /// <summary>The issue's "done when": `learning-curves score --backend cuda --precision fp32` on the software GPU, on
    /// new random GPT-2 checkpoints written to disk (f32 and f16 storage, tied and untied heads, n_inner, inverse layer
    /// scaling, sizes off every block multiple), within 1e-3 bits of the naive float64 forward pass.</summary>
    [Fact]
    public void Score_fp32_on_new_random_checkpoints_is_within_1e3_bits_of_float64()
    {
        Driver();
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        var configs = new[]
        {
            (Cfg: new ModelConfig { VocabSize = 307, MaxPositions = 41, Embd = 40, Layers = 2, Heads = 5 }, Untied: false, Store: StoreDType.F32),
            (Cfg: new ModelConfig { VocabSize = 1030, MaxPositions = 24, Embd = 64, Layers = 3, Heads = 2, Inner = 100, ScaleAttnByInverseLayerIdx = true, TieWordEmbeddings = false },
                Untied: true, Store: StoreDType.F16),
        };
        foreach (var (cfg, untied, store) in configs)
        {
            var dir = TestPaths.TempDir();
            HfCheckpoint.Save(dir, ModelWeights.Random(cfg, rng.Next(), untied), store);
            var weights = HfCheckpoint.Load(dir); // the reference reads what was stored (f16-rounded where so)
            var seqs = new[] { 1, 2, 17, cfg.MaxPositions, 9 }.Select(n => Enumerable.Range(0, n).Select(_ => rng.Next(cfg.VocabSize)).ToArray()).ToArray();
            var ids = Path.Combine(dir, "ids.txt");
            File.WriteAllLines(ids, seqs.Select(q => string.Join(' ', q)));
            var csv = Path.Combine(dir, "scores.csv");
            var (code, output) = RunRunner("score", "--model", dir, "--ids", ids, "--out", csv, "--backend", "cuda", "--precision", "fp32", "--batch", "2");
            Assert.True(code == 0, $"score exit {code}\n{output}");
            var rows = File.ReadAllLines(csv).Skip(1).Select(l => l.Split(',')).ToArray();
            var want = seqs.Select(q => NaiveGpt2.SurprisalBits(weights, q)).ToArray();
            Assert.Equal(want.Sum(w => w.Length), rows.Length);
            double worst = 0;
            foreach (var r in rows)
            {
                int sq = int.Parse(r[0], CultureInfo.InvariantCulture), pos = int.Parse(r[1], CultureInfo.InvariantCulture);
                Assert.Equal(seqs[sq][pos], int.Parse(r[2], CultureInfo.InvariantCulture));
                double d = Math.Abs(double.Parse(r[3], CultureInfo.InvariantCulture) - want[sq][pos - 1]);
                worst = Math.Max(worst, double.IsNaN(d) ? double.PositiveInfinity : d);
            }
            Assert.True(worst <= 1e-3, $"seed {seed}, {cfg.VocabSize}x{cfg.Embd}x{cfg.Layers} {store}: max |score - float64| = {worst:E3} bits");
        }
    }

    /// <summary>The other half of "done when", exactly as the issue words it: `verify --backend cuda --quick` (every
    /// precision, the random cases: GPT-2 and GPT-NeoX) passes on the software GPU. The parity fixtures are not part of
    /// it (verify takes them only with --fixtures); GpuModelTests runs them, and bf16 misses its 0.1-bit target on two of
    /// them by about 0.025 bits, as CudaBf16ModelTests predicts.</summary>
    [Fact]
    public void Verify_quick_passes_in_every_precision()
    {
        Driver();
        var (code, output) = RunRunner("verify", "--backend", "cuda", "--quick");
        Assert.True(code == 0, $"verify exit {code}\n{output}");
        foreach (var p in new[] { "fp32", "tf32", "bf16" })
            Assert.Contains($"summary {p,-5} vs cpu", output, StringComparison.Ordinal);
        Assert.Contains("random-neox-parallel-rot025", output, StringComparison.Ordinal);
    }

    /// <summary>
    /// Launches (kernels and cuBLAS calls) of one scoring forward pass at the GPT-2-small shape: 12 layers, B = 16,
    /// T = 128, V = 50257 (two head chunks), counted by the software GPU in dry-run mode (work counted, not run: the
    /// counts do not depend on the width, which is kept small). BENCHMARKS.md records them.
    /// </summary>
    [Fact]
    public void Launches_per_forward_pass_at_the_gpt2_small_shape()
    {
        var driver = Driver();
        var count = (delegate* unmanaged<byte*, long>)NativeLibrary.GetExport(driver, "lcsg_launches");
        var reset = (delegate* unmanaged<void>)NativeLibrary.GetExport(driver, "lcsg_reset_launches");
        var dry = (delegate* unmanaged<int, void>)NativeLibrary.GetExport(driver, "lcsg_set_dry_run");
        using var be = Open();
        var cfg = new ModelConfig { VocabSize = 50257, MaxPositions = 128, Embd = 32, Layers = 12, Heads = 2 };
        using var model = new DecoderModel(be, ModelWeights.Random(cfg, 1));
        var rng = new Random(2);
        var seqs = Enumerable.Range(0, 16).Select(_ => Enumerable.Range(0, 128).Select(_ => rng.Next(cfg.VocabSize)).ToArray()).ToArray();
        be.Synchronize();
        reset();
        dry(1);
        try
        {
            model.ScoreAll(seqs);
        }
        finally
        {
            dry(0);
        }
        var names = CudaBackend.KernelNames.Concat(["cublasGemmEx", "cublasGemmStridedBatchedEx", "cuMemcpyHtoDAsync_v2", "cuMemcpyDtoHAsync_v2"]);
        var table = new List<string>();
        foreach (var n in names)
        {
            var bytes = System.Text.Encoding.UTF8.GetBytes(n + "\0");
            long c;
            fixed (byte* p = bytes) c = count(p);
            if (c > 0) table.Add($"{n} {c}");
        }
        long kernels = CudaBackend.KernelNames.Sum(n =>
        {
            var bytes = System.Text.Encoding.UTF8.GetBytes(n + "\0");
            fixed (byte* p = bytes) return count(p);
        });
        TestContext.Current.TestOutputHelper?.WriteLine(string.Join("\n", table));
        Console.WriteLine("launches per forward pass (GPT-2-small shape): " + string.Join(", ", table));
        Assert.True(kernels > 0);
    }

    /// <summary>
    /// The cost counters (lcsg_cost_*): a GEMM's bytes and FLOPs are exact from its shapes (A and B read, C not read
    /// when beta is 0, D written; 2mnk), a kernel's are the pages it touched. Add(x, y) (kernel residual_add): x is read and
    /// written, y only read; allocations own whole pages and start 1 KiB (the guard zone) into their first page.
    /// </summary>
    [Theory]
    [InlineData(5, 33, 17, 1)]
    [InlineData(64, 96, 40, 2)]
    public void Cost_counters_count_gemms_exactly_and_kernels_by_pages(int rows, int inDim, int outDim, int seed)
    {
        var driver = Driver();
        var enable = (delegate* unmanaged<int, void>)NativeLibrary.GetExport(driver, "lcsg_cost_enable");
        var reset = (delegate* unmanaged<void>)NativeLibrary.GetExport(driver, "lcsg_cost_reset");
        var count = (delegate* unmanaged<long>)NativeLibrary.GetExport(driver, "lcsg_cost_count");
        var get = (delegate* unmanaged<long, byte**, int*, double*, double*, double*, int*, int>)NativeLibrary.GetExport(driver, "lcsg_cost_get");
        var granularity = (delegate* unmanaged<long>)NativeLibrary.GetExport(driver, "lcsg_cost_granularity");
        using var be = Open();
        var rng = new Random(seed);
        var x = be.Upload(Normal(rng, (long)rows * inDim));
        var w = be.UploadWeight(Normal(rng, (long)inDim * outDim));
        var o = be.Allocate((long)rows * outDim, DType.F32);
        long n = 3000 + seed * 1111;
        var a = be.Upload(Normal(rng, n));
        var b = be.Upload(Normal(rng, n));
        be.Synchronize();
        reset();
        enable(1);
        try
        {
            be.MatMul(o, x, w, null, rows, inDim, outDim, MatMulEpilogue.None);
            be.Add(a, b, n);
            be.Synchronize();
        }
        finally
        {
            enable(0);
        }
        var recs = new List<(string Name, int Kind, double Read, double Written, double Flops, int Math)>();
        for (long i = 0; i < count(); i++)
        {
            byte* name;
            int kind, math;
            double r, wr, f;
            Assert.Equal(0, get(i, &name, &kind, &r, &wr, &f, &math));
            recs.Add((Marshal.PtrToStringUTF8((IntPtr)name)!, kind, r, wr, f, math));
        }
        reset();
        var gemm = Assert.Single(recs, r => r.Kind == 2);
        Assert.Equal(be.CublasLtActive ? "cublasLtMatmul" : "cublasGemmEx", gemm.Name);
        Assert.Equal(4.0 * ((double)rows * inDim + (double)inDim * outDim), gemm.Read);
        Assert.Equal(4.0 * rows * outDim, gemm.Written);
        Assert.Equal(2.0 * rows * inDim * outDim, gemm.Flops);
        Assert.Equal(1, gemm.Math); // fp32 mode: plain fp32
        var add = Assert.Single(recs, r => r.Kind == 1 && r.Name == "residual_add");
        long page = granularity();
        // Allocation sizes round to 256 bytes, then to whole 4-byte words; the data starts 1 KiB into the first page.
        double Pages(long elements) => Math.Ceiling((1024 + elements * 4.0) / page);
        Assert.Equal((Pages(n) + Pages(n)) * page, add.Read);
        Assert.Equal(Pages(n) * page, add.Written);
        Assert.Equal(0, add.Flops);
    }

    /// <summary>
    /// `bench engine --backend cuda --quick` on the software GPU: no timings, and for each of its shapes the launches of
    /// one forward pass and the H200 time the cost model predicts from the counted work (BENCHMARKS.md, "cost model vs
    /// real H200"); the B = 3 linearity check of the extrapolation holds on the total bytes.
    /// </summary>
    [Fact]
    public void Bench_engine_prints_launches_and_the_predicted_h200_time()
    {
        Driver();
        var (code, output) = RunRunner("bench", "engine", "--backend", "cuda", "--precision", "bf16", "--quick");
        Assert.True(code == 0, $"bench exit {code}\n{output}");
        Assert.DoesNotContain("matrix rate bf16 (cublasGemmEx", output, StringComparison.Ordinal);
        var launches = System.Text.RegularExpressions.Regex.Matches(output, @"launches per forward: (\d+)");
        var predicted = System.Text.RegularExpressions.Regex.Matches(output, @"predicted H200: ([0-9.]+) ms per batch");
        Assert.True(launches.Count == 2 && predicted.Count == 2, output);
        foreach (System.Text.RegularExpressions.Match m in launches) Assert.True(int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) > 0, output);
        foreach (System.Text.RegularExpressions.Match m in predicted) Assert.True(double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) > 0, output);
        var linear = System.Text.RegularExpressions.Regex.Matches(output, @"total within ([0-9.]+) %");
        Assert.True(linear.Count == 2, output);
        foreach (System.Text.RegularExpressions.Match m in linear) Assert.True(double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) < 1.0, output);
    }
}
