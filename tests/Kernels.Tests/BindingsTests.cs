using System.Text.RegularExpressions;
using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Model;
using LearningCurves.Kernels.Native;
using LearningCurves.Tests.Common;
using Xunit;

namespace LearningCurves.Kernels.Tests;

/// <summary>The parts of the bindings and the backend that need no GPU: error text, the kernel cache, compile
/// targets, kernel signatures against kernels.cu, bf16 conversion, head chunks and batch sizing.</summary>
public partial class BindingsTests
{
    [Fact]
    public void Cuda_errors_name_the_call_and_the_error()
    {
        Assert.Equal("cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY (out of memory)",
            CudaException.Format("cuMemAlloc_v2", 2, "CUDA", "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"));
        Assert.Equal("cublasGemmEx failed: cuBLAS error 999", CudaException.Format("cublasGemmEx", 999, "cuBLAS", null, null));
        Assert.Equal("nvrtcCompileProgram failed: NVRTC_ERROR_COMPILATION", CudaException.Format("nvrtcCompileProgram", 6, "NVRTC", "NVRTC_ERROR_COMPILATION", null));
        var withLog = CudaException.Format("cuModuleLoadDataEx", 218, "CUDA", "CUDA_ERROR_INVALID_PTX", "a PTX JIT compilation failed", "JIT log: ptxas fatal");
        Assert.Equal($"cuModuleLoadDataEx failed: CUDA_ERROR_INVALID_PTX (a PTX JIT compilation failed){Environment.NewLine}JIT log: ptxas fatal", withLog);
        var e = new CudaException("cuLaunchKernel(embed_forward)", 700, "CUDA", "CUDA_ERROR_ILLEGAL_ADDRESS", "an illegal memory access was encountered");
        Assert.Equal("cuLaunchKernel(embed_forward)", e.Call);
        Assert.Equal(700, e.Code);
        Assert.Contains("CUDA_ERROR_ILLEGAL_ADDRESS", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Out_of_memory_says_how_much_was_asked_and_free()
    {
        var e = new CudaOutOfMemoryException("cuMemAlloc_v2", 2, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory", 3L << 30, 512L << 20);
        Assert.Equal("cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY (out of memory; asked for 3072.0 MiB with 512.0 MiB free)", e.Message);
        var cfg = ForwardGpt2Small();
        var err = BatchSizing.OutOfMemory(e, cfg, 128, 512, availableBytes: (512L << 20) + (2L << 30));
        Assert.Equal(2, err.ExitCode);
        var m = Regex.Match(err.Message, @"a batch of (\d+) would fit: use --batch (\d+)");
        Assert.True(m.Success, err.Message);
        int fits = int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(fits, 1, 511);
        Assert.Equal(BatchSizing.Fit((512L << 20) + (2L << 30), cfg, 128), fits);
        Assert.StartsWith("out of GPU memory at batch 512 x 128 tokens", err.Message, StringComparison.Ordinal);
        Assert.Contains("even a smaller batch", BatchSizing.OutOfMemory(e, cfg, 128, 2, -1).Message, StringComparison.Ordinal);
        long w32 = BatchSizing.WeightBytes(cfg, Precision.Fp32, false), w16 = BatchSizing.WeightBytes(cfg, Precision.Bf16, false);
        // fp32: every parameter, plus the head's own copy on the aligned vocabulary (wte stays for the embedding).
        long paddedHead = (long)Engine.Model.DecoderModel.PaddedVocab(cfg.VocabSize, Engine.Model.DecoderModel.DefaultHeadRowMultiple) * cfg.Embd;
        Assert.Equal((cfg.ParameterCount(false) + paddedHead) * 4, w32);
        Assert.InRange(w16, w32 / 2, w32 - 1);
    }

    [Fact]
    public void Unavailable_lists_the_attempts_on_one_line()
    {
        Assert.Equal("no device", CudaUnavailableException.Format("no device", Array.Empty<string>()));
        Assert.Equal("cuBLAS (libcublas) was not found; tried: a: x; b: y",
            CudaUnavailableException.Format("cuBLAS (libcublas) was not found", new[] { "a: x", "b: y" }));
        Assert.Equal("CUBLAS_STATUS_EXECUTION_FAILED", CublasApi.StatusName(13));
        Assert.Null(CublasApi.StatusName(12345));
    }

    [Fact]
    public void Cache_keys_change_with_source_options_arch_and_nvrtc_version()
    {
        var t90 = new CompileTarget(90, true);
        string[] opts = ["--std=c++17", "--gpu-architecture=sm_90"];
        var key = KernelCompiler.CacheKey("src", opts, t90, 12, 8);
        Assert.Matches(@"^kernels-[0-9a-f]{16}-sm_90-nvrtc12\.8\.cubin$", key);
        Assert.Equal(key, KernelCompiler.CacheKey("src", opts, t90, 12, 8));
        var others = new[]
        {
            KernelCompiler.CacheKey("src ", opts, t90, 12, 8),
            KernelCompiler.CacheKey("src", ["--std=c++17", "--gpu-architecture=sm_90", "-G"], t90, 12, 8),
            KernelCompiler.CacheKey("src", opts, new CompileTarget(80, true), 12, 8),
            KernelCompiler.CacheKey("src", opts, t90, 12, 9),
            KernelCompiler.CacheKey("src", opts, t90, 13, 0),
            KernelCompiler.CacheKey("src", opts, new CompileTarget(90, false), 12, 8),
        };
        Assert.Equal(others.Length + 1, others.Append(key).Distinct(StringComparer.Ordinal).Count());
        Assert.EndsWith("-compute_90-nvrtc12.8.ptx", others[^1], StringComparison.Ordinal);
    }

    [Fact]
    public void The_cache_is_written_atomically_and_read_back()
    {
        var dir = Path.Combine(TestPaths.TempDir(), "nested", "cache");
        var image = new byte[1000];
        Random.Shared.NextBytes(image);
        Assert.Null(KernelCompiler.TryReadCache(dir, "k.cubin"));
        Assert.True(KernelCompiler.TryWriteCache(dir, "k.cubin", image));
        Assert.Equal(image, KernelCompiler.TryReadCache(dir, "k.cubin"));
        Assert.Equal(new[] { "k.cubin" }, Directory.GetFiles(dir).Select(Path.GetFileName));
        File.WriteAllBytes(Path.Combine(dir, "empty.cubin"), Array.Empty<byte>());
        Assert.Null(KernelCompiler.TryReadCache(dir, "empty.cubin"));
    }

    [Fact]
    public void Default_cache_dir_follows_the_environment()
    {
        var saved = Environment.GetEnvironmentVariable("LC_KERNEL_CACHE");
        try
        {
            Environment.SetEnvironmentVariable("LC_KERNEL_CACHE", "/tmp/lc-cache-test");
            Assert.Equal("/tmp/lc-cache-test", KernelCompiler.DefaultCacheDir());
            Environment.SetEnvironmentVariable("LC_KERNEL_CACHE", null);
            Assert.EndsWith(Path.Combine("learning-curves", "kernels"), KernelCompiler.DefaultCacheDir(), StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable("LC_KERNEL_CACHE", saved);
        }
    }

    [Fact]
    public void Compile_target_prefers_a_cubin_and_falls_back_to_ptx()
    {
        int[] nvrtc12 = [50, 60, 70, 75, 80, 86, 89, 90];
        Assert.Equal(new CompileTarget(90, true), CompileTarget.Choose(90, nvrtc12));
        Assert.Equal("sm_90", CompileTarget.Choose(90, nvrtc12)!.Value.Option);
        Assert.Equal(new CompileTarget(90, false), CompileTarget.Choose(100, nvrtc12));
        Assert.Equal("compute_90", CompileTarget.Choose(100, nvrtc12)!.Value.Option);
        Assert.Equal(new CompileTarget(86, false), CompileTarget.Choose(87, nvrtc12));
        Assert.Null(CompileTarget.Choose(35, nvrtc12));
    }

    [Fact]
    public void Kernel_declarations_are_read_from_the_prototypes()
    {
        const string source = """
            // extern "C" __global__ void in_a_comment(float* x)
            /* extern "C" __global__ void in_a_block_comment(int n) */
            extern "C" __global__ void k1(float* __restrict__ out, const unsigned short* __restrict__ in,
                int n, long long big, float scale, const int rows)
            { }
            extern "C" __global__ void k0() { }
            """;
        var table = KernelDeclarations.Parse(source);
        Assert.Equal(["k1", "k0"], table.Keys.ToArray());
        Assert.Equal("ppilfi", table["k1"]);
        Assert.Equal("", table["k0"]);
        var odd = Assert.Throws<InvalidOperationException>(() => KernelDeclarations.Parse("extern \"C\" __global__ void k(double x) { }"));
        Assert.Contains("'double x'", odd.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(() => KernelDeclarations.Parse("extern \"C\" __global__ void k(int a) { }\nextern \"C\" __global__ void k(int a) { }"));
        Assert.Throws<InvalidOperationException>(() => KernelDeclarations.Parse("// nothing"));
    }

    [Fact]
    public void The_backend_checks_launches_against_the_embedded_kernels_cu()
    {
        var source = KernelCompiler.EmbeddedSource();
        Assert.Equal(File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "kernels.cu")), source);
        Assert.Equal(KernelDeclarations.Parse(source), CudaBackend.KernelSignatures);
        // Every kernel the backend's sources name in a launch exists (the kinds are checked at each launch).
        foreach (var name in LaunchedKernels())
            Assert.True(CudaBackend.KernelSignatures.ContainsKey(name), $"src/Kernels launches {name}, which kernels.cu does not declare");
    }

    /// <summary>Kernel names the CUDA backend's sources pass to Launch (string literals naming a declared kernel, or
    /// Launch's first argument).</summary>
    internal static IReadOnlySet<string> LaunchedKernels()
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(Path.Combine(TestPaths.RepoRoot, "src", "Kernels"), "*.cs", SearchOption.AllDirectories))
        {
            var text = File.ReadAllText(file);
            foreach (Match m in LaunchCall().Matches(text)) names.Add(m.Groups[1].Value);
            foreach (Match m in StringLiteral().Matches(text))
                if (CudaBackend.KernelSignatures.ContainsKey(m.Groups[1].Value)) names.Add(m.Groups[1].Value);
        }
        return names;
    }

    [GeneratedRegex(@"\bLaunch\(\s*""(\w+)""")]
    private static partial Regex LaunchCall();

    [GeneratedRegex(@"""(\w+)""")]
    private static partial Regex StringLiteral();

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(33)]
    [InlineData(1000)]
    public void Bf16_conversion_matches_the_cpu_rounding(int n)
    {
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        var x = new float[n + 12];
        for (int i = 0; i < x.Length; i++) x[i] = (float)((rng.NextDouble() - 0.5) * Math.Pow(10, rng.Next(-40, 39)));
        // Specials and exact ties (round half to even both ways), placed at the end to land in the scalar tail too.
        float[] specials = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, -0f, 0f, float.MaxValue, float.Epsilon,
            BitConverter.UInt32BitsToSingle(0x3F808000u), BitConverter.UInt32BitsToSingle(0x3F818000u), -1.5f,
            BitConverter.UInt32BitsToSingle(0x7F7FFFFFu), BitConverter.UInt32BitsToSingle(0x7FA00001u)];
        specials.CopyTo(x, n);
        var bits = new ushort[x.Length];
        Bf16.FromFloat(x, bits);
        var cpu = x.ToArray();
        CpuOps.RoundToBf16(cpu);
        for (int i = 0; i < x.Length; i++)
        {
            float got = Bf16.ToFloat(bits[i]);
            if (float.IsNaN(x[i]))
            {
                Assert.True(float.IsNaN(got), $"seed {seed} [{i}]: NaN became {got}");
                continue;
            }
            Assert.True(BitConverter.SingleToUInt32Bits(cpu[i]) == BitConverter.SingleToUInt32Bits(got),
                $"seed {seed} [{i}]: {x[i]:R} -> {got:R}, CPU rounds to {cpu[i]:R}");
            Assert.Equal(Bf16.One(BitConverter.SingleToUInt32Bits(x[i])), bits[i]);
        }
        Assert.Equal((ushort)0x3F80, bits[n + 7]); // 1.00390625 is a tie: rounds down to the even 1.0
        Assert.Equal((ushort)0x3F82, bits[n + 8]); // 1.01171875 is a tie: rounds up to the even neighbour
    }

    [Theory]
    [InlineData(1, 50257)]
    [InlineData(1280, 50257)]
    [InlineData(16384, 50257)]
    [InlineData(100000, 51200)]
    public void Head_chunks_fit_the_budget(int m, int v)
    {
        int chunk = CudaBackend.HeadChunk(m, v);
        Assert.InRange(chunk, 1, v);
        Assert.True(chunk == v || chunk % 128 == 0, $"chunk {chunk}");
        Assert.True(chunk == 128 || (long)m * chunk * 4 <= CudaBackend.DefaultHeadChunkBytes, $"{m} x {chunk} over budget");
        Assert.Equal(1024, CudaBackend.HeadChunk(1000, 50257, 1000L * 1024 * 4 + 100));
        Assert.Equal(128, CudaBackend.HeadChunk(1000, 50257, 16));
    }

    [Fact]
    public void Batch_size_follows_free_memory()
    {
        var cfg = ForwardGpt2Small();
        long per = BatchSizing.BytesPerSequence(cfg, 128);
        Assert.InRange(per, 4L << 20, 16L << 20); // 128 tokens x ~ 64 KB of activations and scratch
        Assert.Equal(1, BatchSizing.Fit(0, cfg, 128));
        int at16 = BatchSizing.Fit(16L << 30, cfg, 128), at8 = BatchSizing.Fit(8L << 30, cfg, 128);
        Assert.True(at16 > at8 && at8 > 100, $"{at16} vs {at8}");
        Assert.True((long)at16 * per <= (long)((16L << 30) * 0.9), "fits within 90% of free memory");
        Assert.Equal(BatchSizing.MaxBatch, BatchSizing.Fit(long.MaxValue / 4, cfg, 128));
        Assert.True(BatchSizing.Fit(16L << 30, cfg, 1024) < at16 / 8, "longer sequences, fewer of them");
        using var cpu = new CpuBackend();
        Assert.Equal(16, BatchSizing.Choose(cpu, cfg, 128, null));
        Assert.Equal(3, BatchSizing.Choose(cpu, cfg, 128, 3));
        Assert.Throws<LearningCurves.Formats.UserError>(() => BatchSizing.Choose(cpu, cfg, 128, 0));
    }

    private static ModelConfig ForwardGpt2Small() => LearningCurves.Engine.Benchmarks.ForwardBenchmark.Gpt2Small();
}
