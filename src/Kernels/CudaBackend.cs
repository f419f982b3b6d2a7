using System.Runtime.InteropServices;
using LearningCurves.Engine;
using LearningCurves.Engine.Backends;
using LearningCurves.Kernels.Native;

namespace LearningCurves.Kernels;

/// <summary>
/// The GPU backend: kernels.cu compiled by NVRTC for the device (cached on disk), cuBLAS for the matrix products.
/// fp32: cuBLAS default math, no TF32 anywhere. tf32: cuBLAS may use TF32 tensor cores. bf16: matrix weights stored
/// in bf16, activations converted to bf16 before each product, fp32 accumulation and fp32 everywhere else.
/// All work is queued on one stream; host transfers go through two pinned staging buffers.
/// </summary>
public sealed partial class CudaBackend : IBackend
{
    private const int Block = 256;
    /// <summary>Pinned staging chunk: big enough to keep PCIe busy, small enough to be cheap to hold twice.</summary>
    private const long StageBytes = 16L << 20;
    /// <summary>Logits of one head chunk (M, Vc) are kept under this many bytes of scratch.</summary>
    public const long DefaultHeadChunkBytes = 256L << 20;

    private readonly CudaDevice _dev;
    private readonly CublasHandle _blas;
    private readonly CudaModuleHandle _module;
    private readonly Dictionary<string, IntPtr> _fn = new(StringComparer.Ordinal);
    private readonly PinnedHostHandle[] _stage = new PinnedHostHandle[2];
    private readonly EventHandle[] _stageFree = new EventHandle[2];
    private readonly bool[] _stageUsed = new bool[2];
    private int _nextStage;
    private readonly Scratch _bf16In, _q, _k, _v, _y, _att, _logits, _state, _rotary, _widened;
    /// <summary>What the rotary table in <see cref="_rotary"/> was made for (T, R, base, past); null: nothing yet.</summary>
    private (int T, int R, double Base, int Past)? _rotaryKey;
    private KernelProfile? _profile;
    private bool _disposed;

    /// <summary>Opens device <paramref name="ordinal"/>, compiles or loads the kernels and creates the cuBLAS handle.
    /// No driver, device or library: <see cref="CudaUnavailableException"/> listing what was tried.</summary>
    public CudaBackend(Precision precision = Precision.Fp32, int ordinal = 0, TextWriter? log = null)
    {
        Precision = precision;
        _dev = CudaDevice.Open(ordinal);
        try
        {
            var image = KernelCompiler.GetImage(_dev, KernelCompiler.EmbeddedSource(), log);
            _module = _dev.LoadModule(image);
            foreach (var name in KernelNames) _fn[name] = _dev.GetFunction(_module, name);
            _dev.MakeCurrent();
            CublasApi.Check(CublasApi.cublasCreate_v2(out var h), "cublasCreate_v2");
            _blas = new CublasHandle(_dev.Context, h);
            CublasApi.Check(CublasApi.cublasSetStream_v2(_blas.Value, _dev.Stream), "cublasSetStream_v2");
            // fp32 must not pick TF32 kernels behind our back; tf32 allows them for plain sgemm calls too.
            int mode = precision == Precision.Tf32 ? CublasApi.Tf32TensorOpMath : CublasApi.DefaultMath;
            CublasApi.Check(CublasApi.cublasSetMathMode(_blas.Value, mode), "cublasSetMathMode");
            CublasApi.Check(CublasApi.cublasGetVersion_v2(_blas.Value, out int bv), "cublasGetVersion_v2");
            CublasVersion = bv;
            for (int i = 0; i < 2; i++)
            {
                _stage[i] = _dev.AllocatePinned(StageBytes);
                _stageFree[i] = _dev.CreateEvent(timing: false);
            }
            _bf16In = new Scratch(_dev);
            _q = new Scratch(_dev);
            _k = new Scratch(_dev);
            _v = new Scratch(_dev);
            _y = new Scratch(_dev);
            _att = new Scratch(_dev);
            _logits = new Scratch(_dev);
            _state = new Scratch(_dev);
            _rotary = new Scratch(_dev);
            _widened = new Scratch(_dev);
        }
        catch
        {
            // Whatever was made before the failure goes now, not to the finalizers (which would run with the context
            // already released).
            ReleaseResources();
            throw;
        }
        if (Environment.GetEnvironmentVariable("NVIDIA_TF32_OVERRIDE") == "1" && precision == Precision.Fp32)
            log?.WriteLine("warning: NVIDIA_TF32_OVERRIDE=1 lets cuBLAS use TF32 even in fp32 mode");
    }

    /// <summary>Every kernel of kernels.cu this backend launches, with its parameter kinds in order: p = pointer,
    /// i = int, l = long long, f = float. Each launch is checked against this; a test checks it against kernels.cu.</summary>
    public static IReadOnlyDictionary<string, string> KernelSignatures { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["embed_forward"] = "ppppiii",
        ["layernorm_forward"] = "ppppiif",
        ["bias_add"] = "ppii",
        ["bias_gelu_forward"] = "ppii",
        ["gelu_erf_forward"] = "pl",
        ["rotary_forward"] = "pppiiiii",
        ["residual_add"] = "ppl",
        ["residual_bias_add"] = "pppii",
        ["gather_rows"] = "pppii",
        ["qkv_split_heads"] = "ppppiiii",
        ["merge_heads"] = "ppiiii",
        ["softmax_causal"] = "piiiif",
        ["attention_fused"] = "ppiiiif",
        ["kv_cache_write"] = "pppiiiii",
        ["attention_cached"] = "ppppiiiiiif",
        ["attention_bf16_hs64"] = "ppiiiif",
        ["attention_bf16_hs128"] = "ppiiiif",
        ["attention_tf32_hs64"] = "ppiiiif",
        ["attention_tf32_hs128"] = "ppiiiif",
        ["attention_fp32_hs64"] = "ppiiiif",
        ["attention_fp32_hs128"] = "ppiiiif",
        ["attention_fused_bf16"] = "ppiiiif",
        ["kv_cache_write_bf16"] = "pppiiiii",
        ["attention_cached_bf16"] = "ppppiiiiiif",
        ["surprisal_chunk"] = "pppiiii",
        ["surprisal_finish"] = "ppi",
        ["convert_f32_to_bf16"] = "ppl",
        ["convert_bf16_to_f32"] = "ppl",
    };

    public static IReadOnlyList<string> KernelNames => KernelSignatures.Keys.ToArray();

    public string Name => "cuda";

    public string DeviceName => _dev.Describe();

    public CudaDevice Device => _dev;

    public int CublasVersion { get; }

    public Precision Precision { get; }

    /// <summary>When true, attention uses cuBLAS batched products around softmax_causal instead of attention_fused
    /// (the only path for head sizes above 128).</summary>
    public bool UseCublasAttention { get; set; }

    public long? FreeMemoryBytes => _dev.MemoryInfo().Free;

    /// <summary>Scratch budget for one chunk of head logits (M, Vc); smaller values force more chunks (tests).</summary>
    public long HeadChunkBytes { get; set; } = DefaultHeadChunkBytes;

    /// <summary>Bytes this backend holds in buffers it handed out (not scratch).</summary>
    public long AllocatedBytes { get; private set; }

    /// <summary>Starts recording CUDA events around every op; <see cref="StopProfile"/> returns the table.</summary>
    public void StartProfile()
    {
        ThrowIfDisposed();
        _profile?.Dispose();
        _profile = new KernelProfile(_dev);
    }

    public IReadOnlyList<KernelTime> StopProfile()
    {
        ThrowIfDisposed();
        var p = _profile ?? throw new InvalidOperationException("StartProfile was not called");
        _profile = null;
        var table = p.Collect();
        p.Dispose();
        return table;
    }

    public IDeviceBuffer Allocate(long length) => NewBuffer(length, BufferKind.F32);

    public IDeviceBuffer AllocateInts(long length) => NewBuffer(length, BufferKind.I32);

    private CudaBuffer NewBuffer(long length, BufferKind kind)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        var mem = _dev.Allocate(length * kind.Size());
        var buf = new CudaBuffer(this, mem, length, kind);
        _dev.Fill32(mem.Pointer, 0, (mem.Bytes + 3) / 4);
        AllocatedBytes += mem.Bytes;
        return buf;
    }

    public IDeviceBuffer Upload(ReadOnlySpan<float> data)
    {
        var buf = NewBuffer(data.Length, BufferKind.F32);
        CopyIn(buf.Ptr, MemoryMarshal.AsBytes(data));
        return buf;
    }

    public IDeviceBuffer UploadWeight(ReadOnlySpan<float> data)
    {
        if (Precision != Precision.Bf16) return Upload(data);
        var buf = NewBuffer(data.Length, BufferKind.Bf16);
        // Converted chunk by chunk straight into the pinned staging memory: no full-size host copy.
        long perChunk = StageBytes / 2;
        for (long done = 0; done < data.Length; done += perChunk)
        {
            int n = (int)Math.Min(perChunk, data.Length - done);
            var slot = NextStage();
            unsafe
            {
                var dst = new Span<ushort>((void*)_stage[slot].Pointer, n);
                Bf16.FromFloat(data.Slice((int)done, n), dst);
            }
            _dev.CopyToDevice(buf.Ptr + (ulong)(done * 2), _stage[slot].Pointer, n * 2L);
            _dev.Record(_stageFree[slot]);
        }
        return buf;
    }

    public void Write(IDeviceBuffer dst, ReadOnlySpan<int> data)
    {
        var b = Buf(dst, BufferKind.I32);
        if (data.Length > b.Length) throw new ArgumentException($"writing {data.Length} ints into a buffer of {b.Length}");
        ThrowIfDisposed();
        CopyIn(b.Ptr, MemoryMarshal.AsBytes(data));
    }

    public void Write(IDeviceBuffer dst, ReadOnlySpan<float> data)
    {
        var b = Buf(dst, BufferKind.F32);
        if (data.Length > b.Length) throw new ArgumentException($"writing {data.Length} floats into a buffer of {b.Length}");
        ThrowIfDisposed();
        CopyIn(b.Ptr, MemoryMarshal.AsBytes(data));
    }

    /// <summary>Copies the first dst.Length values of an fp32 buffer to the host; a bf16 weight (bf16 mode) reads back as
    /// the floats it stores, widened on the device by convert_bf16_to_f32 (exact).</summary>
    public void Download(IDeviceBuffer src, Span<float> dst)
    {
        var b = Buf(src);
        if (b.Kind == BufferKind.I32) throw new ArgumentException($"expected a {BufferKind.F32} buffer, got {b.Kind}");
        if (dst.Length > b.Length) throw new ArgumentException($"reading {dst.Length} floats from a buffer of {b.Length}");
        ThrowIfDisposed();
        ulong from = b.Ptr;
        if (b.Kind == BufferKind.Bf16 && dst.Length > 0)
        {
            from = _widened.Get(dst.Length * 4L);
            Launch("convert_bf16_to_f32", Grid(dst.Length), 1, 1, 0, D(from), D(b.Ptr), L(dst.Length));
        }
        var bytes = MemoryMarshal.AsBytes(dst);
        for (long done = 0; done < bytes.Length; done += StageBytes)
        {
            int n = (int)Math.Min(StageBytes, bytes.Length - done);
            var slot = NextStage();
            _dev.CopyToHost(_stage[slot].Pointer, from + (ulong)done, n);
            _dev.Record(_stageFree[slot]);
            CudaDevice.Wait(_stageFree[slot]);
            unsafe
            {
                new ReadOnlySpan<byte>((void*)_stage[slot].Pointer, n).CopyTo(bytes.Slice((int)done, n));
            }
        }
    }

    public void Synchronize()
    {
        ThrowIfDisposed();
        _dev.Synchronize();
    }

    /// <summary>Copies host bytes to the device through the two staging buffers: filling one overlaps the other's copy.</summary>
    private void CopyIn(ulong dst, ReadOnlySpan<byte> src)
    {
        for (long done = 0; done < src.Length; done += StageBytes)
        {
            int n = (int)Math.Min(StageBytes, src.Length - done);
            var slot = NextStage();
            unsafe
            {
                src.Slice((int)done, n).CopyTo(new Span<byte>((void*)_stage[slot].Pointer, n));
            }
            _dev.CopyToDevice(dst + (ulong)done, _stage[slot].Pointer, n);
            _dev.Record(_stageFree[slot]);
        }
    }

    /// <summary>The next staging slot, once the copy that last used it has finished.</summary>
    private int NextStage()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int slot = _nextStage;
        _nextStage ^= 1;
        if (_stageUsed[slot]) CudaDevice.Wait(_stageFree[slot]);
        _stageUsed[slot] = true;
        return slot;
    }

    public void Embed(IDeviceBuffer output, IDeviceBuffer tokens, IDeviceBuffer wte, IDeviceBuffer wpe, int b, int t, int c)
    {
        ThrowIfDisposed();
        long n = (long)b * t * c;
        Need(output, n);
        Need(tokens, (long)b * t, BufferKind.I32);
        using var _ = Time("embed_forward");
        Launch("embed_forward", Grid(n), 1, 1, 0, P(output), P(tokens), P(wte), P(wpe), I(b), I(t), I(c));
    }

    public void LayerNorm(IDeviceBuffer output, IDeviceBuffer input, IDeviceBuffer weight, IDeviceBuffer bias, int rows, int c, float eps)
    {
        ThrowIfDisposed();
        Need(output, (long)rows * c);
        Need(input, (long)rows * c);
        using var _ = Time("layernorm_forward");
        Launch("layernorm_forward", Blocks(rows, Block / 32), 1, 1, 0, P(output), P(input), P(weight), P(bias), I(rows), I(c), F(eps));
    }

    public void MatMul(IDeviceBuffer output, IDeviceBuffer input, IDeviceBuffer weight, IDeviceBuffer? bias, int rows, int inDim, int outDim, MatMulEpilogue epilogue)
    {
        ThrowIfDisposed();
        MatMulEpilogues.CheckBias(epilogue, bias);
        var o = Buf(output, BufferKind.F32);
        var x = Buf(input, BufferKind.F32);
        var w = Buf(weight);
        Need(output, (long)rows * outDim);
        Need(input, (long)rows * inDim);
        if (bias is not null) Need(bias, outDim);
        if (w.Length < (long)inDim * outDim) throw new ArgumentException($"weight holds {w.Length} values, ({inDim}, {outDim}) needs {(long)inDim * outDim}");
        var (bPtr, bType) = GemmOperand(x, (long)rows * inDim, w.Kind);
        using (Time(w.Kind == BufferKind.Bf16 ? "gemm bf16 (cublasGemmEx)" : Precision == Precision.Tf32 ? "gemm tf32 (cublasGemmEx)" : "gemm fp32 (cublasGemmEx)"))
        {
            // Row-major out (rows, outDim) = in (rows, inDim) @ W (inDim, outDim) is, column-major,
            // out^T (outDim, rows) = W^T (outDim, inDim) @ in^T (inDim, rows): no transposes needed.
            Gemm(CublasApi.OpN, CublasApi.OpN, outDim, rows, inDim, w.Ptr, w.Kind, outDim, bPtr, bType, inDim, o.Ptr, outDim);
        }
        long n = (long)rows * outDim;
        // The epilogue: one pass over the product (cuBLAS's own epilogues are in cuBLASLt, which this backend does not bind).
        if (epilogue == MatMulEpilogue.Bias)
        {
            using var _ = Time("bias_add");
            Launch("bias_add", Grid(n), 1, 1, 0, P(output), P(bias!), I(rows), I(outDim));
        }
        else if (epilogue == MatMulEpilogue.BiasGelu)
        {
            using var _ = Time("bias_gelu_forward");
            Launch("bias_gelu_forward", Grid(n), 1, 1, 0, P(output), P(bias!), I(rows), I(outDim));
        }
    }

    public void Add(IDeviceBuffer x, IDeviceBuffer y, long n)
    {
        ThrowIfDisposed();
        Need(x, n);
        Need(y, n);
        using var _ = Time("residual_add");
        Launch("residual_add", Grid(n), 1, 1, 0, P(x), P(y), L(n));
    }

    public void AddBias(IDeviceBuffer x, IDeviceBuffer y, IDeviceBuffer bias, int rows, int cols)
    {
        ThrowIfDisposed();
        long n = (long)rows * cols;
        Need(x, n);
        Need(y, n);
        Need(bias, cols);
        using var _ = Time("residual_bias_add");
        Launch("residual_bias_add", Grid(n), 1, 1, 0, P(x), P(y), P(bias), I(rows), I(cols));
    }

    public void GeluErf(IDeviceBuffer x, long n)
    {
        ThrowIfDisposed();
        Need(x, n);
        using var _ = Time("gelu_erf_forward");
        Launch("gelu_erf_forward", Grid(n), 1, 1, 0, P(x), L(n));
    }

    public void Rotary(IDeviceBuffer qkv, int b, int t, int c, int heads, int rotaryDims, double rotaryBase, int past)
    {
        ThrowIfDisposed();
        if (heads <= 0 || c % heads != 0) throw new ArgumentException($"rotary: width {c} is not a multiple of {heads} heads");
        if (rotaryDims < 0 || rotaryDims % 2 != 0 || rotaryDims > c / heads)
            throw new ArgumentException($"rotary: {rotaryDims} dims must be even and at most the head size {c / heads}");
        Need(qkv, (long)b * t * 3 * c);
        int half = rotaryDims / 2;
        if (half == 0 || b == 0 || t == 0) return;
        // The angle table (cos | sin, each (T, R/2)) is made on the host in double precision (kernels.cu says why) and
        // uploaded once per shape and position: every layer of a forward pass reuses it.
        var key = (t, rotaryDims, rotaryBase, past);
        long tableFloats = (long)t * half;
        ulong table = _rotary.Get(2 * tableFloats * 4);
        if (_rotaryKey != key)
        {
            var host = new float[2 * tableFloats];
            CpuOps.RotaryTable(t, rotaryDims, rotaryBase, past, host.AsSpan(0, (int)tableFloats), host.AsSpan((int)tableFloats));
            CopyIn(table, MemoryMarshal.AsBytes(host.AsSpan()));
            _rotaryKey = key;
        }
        using var _ = Time("rotary_forward");
        Launch("rotary_forward", Grid((long)b * t * 2 * heads * half), 1, 1, 0, P(qkv), D(table), D(table + (ulong)(tableFloats * 4)),
            I(b), I(t), I(c), I(heads), I(rotaryDims));
    }

    public void GatherRows(IDeviceBuffer output, IDeviceBuffer input, IDeviceBuffer rows, int count, int c)
    {
        ThrowIfDisposed();
        Need(output, (long)count * c);
        Need(rows, count, BufferKind.I32);
        using var _ = Time("gather_rows");
        Launch("gather_rows", Grid((long)count * c), 1, 1, 0, P(output), P(input), P(rows), I(count), I(c));
    }

    public void Surprisal(IDeviceBuffer output, IDeviceBuffer hidden, IDeviceBuffer head, IDeviceBuffer targets, int m, int c, int v)
    {
        ThrowIfDisposed();
        if (m == 0) return;
        Need(output, m);
        Need(hidden, (long)m * c);
        Need(targets, m, BufferKind.I32);
        var h = Buf(head);
        if (h.Length < (long)v * c) throw new ArgumentException($"head holds {h.Length} values, ({v}, {c}) needs {(long)v * c}");
        int chunk = HeadChunk(m, v, HeadChunkBytes);
        ulong logits = _logits.Get((long)m * chunk * 4);
        ulong state = _state.Get(3L * m * 4);
        var (bPtr, bType) = GemmOperand(Buf(hidden, BufferKind.F32), (long)m * c, h.Kind);
        for (int v0 = 0; v0 < v; v0 += chunk)
        {
            int cols = Math.Min(chunk, v - v0);
            using (Time("head logits (cublasGemmEx)"))
            {
                // logits (M, cols) = hidden (M, C) @ head[v0 .. v0+cols) (cols, C)^T; column-major: op(head)=T.
                Gemm(CublasApi.OpT, CublasApi.OpN, cols, m, c, h.Ptr + (ulong)((long)v0 * c * h.Kind.Size()), h.Kind, c, bPtr, bType, c, logits, chunk);
            }
            using (Time("surprisal_chunk"))
                Launch("surprisal_chunk", (uint)m, 1, 1, 0, D(state), D(logits), P(targets), I(m), I(cols), I(chunk), I(v0));
        }
        using (Time("surprisal_finish"))
            Launch("surprisal_finish", Blocks(m, Block), 1, 1, 0, P(output), D(state), I(m));
    }

    /// <summary>Vocabulary columns per head chunk: all of V when it fits the scratch budget, else a multiple of 128.</summary>
    public static int HeadChunk(int m, int v, long budgetBytes = DefaultHeadChunkBytes)
    {
        long cols = budgetBytes / (4L * Math.Max(m, 1));
        if (cols >= v) return v;
        return (int)Math.Max(128, cols / 128 * 128);
    }

    public void Logits(IDeviceBuffer output, IDeviceBuffer hidden, IDeviceBuffer head, int m, int c, int v)
    {
        ThrowIfDisposed();
        if (m == 0) return;
        var o = Buf(output, BufferKind.F32);
        Need(output, (long)m * v);
        Need(hidden, (long)m * c);
        var h = Buf(head);
        var (bPtr, bType) = GemmOperand(Buf(hidden, BufferKind.F32), (long)m * c, h.Kind);
        using var _ = Time("head logits (cublasGemmEx)");
        Gemm(CublasApi.OpT, CublasApi.OpN, v, m, c, h.Ptr, h.Kind, c, bPtr, bType, c, o.Ptr, v);
    }

    /// <summary>The right-hand GEMM operand for a weight of <paramref name="weightKind"/>: the fp32 activations
    /// themselves, or (bf16 weights) a bf16 copy made by convert_f32_to_bf16.</summary>
    private (ulong Ptr, BufferKind Kind) GemmOperand(CudaBuffer x, long n, BufferKind weightKind)
    {
        if (weightKind != BufferKind.Bf16) return (x.Ptr, BufferKind.F32);
        ulong dst = _bf16In.Get(n * 2);
        using var _ = Time("convert_f32_to_bf16");
        Launch("convert_f32_to_bf16", Grid(n), 1, 1, 0, D(dst), D(x.Ptr), L(n));
        return (dst, BufferKind.Bf16);
    }

    /// <summary>C (m, n; ldc) = op(A) @ op(B), column-major, C fp32. Compute type from the precision mode.</summary>
    private void Gemm(int opA, int opB, int m, int n, int k, ulong a, BufferKind aKind, int lda, ulong b, BufferKind bKind, int ldb, ulong c, int ldc)
    {
        if (aKind != bKind) throw new InvalidOperationException($"GEMM operands differ in type ({aKind} and {bKind})");
        int type = aKind == BufferKind.Bf16 ? CublasApi.R16BF : CublasApi.R32F;
        int compute = aKind == BufferKind.Bf16 || Precision == Precision.Fp32 ? CublasApi.Compute32F : CublasApi.Compute32FFastTf32;
        _dev.MakeCurrent();
        CublasApi.Check(CublasApi.cublasGemmEx(_blas.Value, opA, opB, m, n, k, 1f, a, type, lda, b, type, ldb, 0f, c, CublasApi.R32F, ldc,
            compute, CublasApi.GemmDefault), "cublasGemmEx");
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>Threads per block of every launch.</summary>
    internal const int BlockThreads = Block;

    /// <summary>The most dynamic shared memory the backend asks for when launching <paramref name="kernel"/> (the fused
    /// attention kernels at their largest head size, 128); 0 for the others. The backend never raises the 48 KiB
    /// default with cuFuncSetAttribute, so static + dynamic must stay within it.</summary>
    internal static uint MaxDynamicShared(string kernel) => kernel switch
    {
        "attention_fused" or "attention_cached" or "attention_fused_bf16" or "attention_cached_bf16" => FusedShared(128),
        "attention_bf16_hs64" => AttentionBf16Shared(64),
        "attention_bf16_hs128" => AttentionBf16Shared(128),
        "attention_tf32_hs64" => AttentionTf32Shared(64),
        "attention_tf32_hs128" => AttentionTf32Shared(128),
        "attention_fp32_hs64" => AttentionFp32Shared(64),
        "attention_fp32_hs128" => AttentionFp32Shared(128),
        _ => 0,
    };

    private static uint FusedShared(int hs) => (uint)((32 * (hs + 1) + 32 * hs + (Block / 32) * hs) * 4);

    /// <summary>Grid for a grid-stride kernel over n elements: one thread each, capped (the kernels loop).</summary>
    private static uint Grid(long n) => (uint)Math.Clamp((n + Block - 1) / Block, 1, 65535L * 16);

    private static uint Blocks(long items, int perBlock) => (uint)Math.Max(1, (items + perBlock - 1) / perBlock);

    private void Launch(string name, uint gx, uint gy, uint gz, uint shared, params ReadOnlySpan<KArg> args) =>
        LaunchBlock(name, gx, gy, gz, Block, shared, args);

    /// <summary>A launch with <paramref name="block"/> threads per block (x only) instead of the usual 256.</summary>
    private void LaunchBlock(string name, uint gx, uint gy, uint gz, uint block, uint shared, params ReadOnlySpan<KArg> args)
    {
        var f = _fn[name];
        var sig = KernelSignatures[name];
        bool ok = sig.Length == args.Length;
        for (int i = 0; ok && i < args.Length; i++) ok = sig[i] == args[i].Kind;
        if (!ok)
        {
            var kinds = new string(args.ToArray().Select(x => x.Kind).ToArray());
            throw new InvalidOperationException($"{name} takes ({sig}) but was launched with ({kinds})");
        }
        // Each argument sits in its own 8-byte slot; the driver reads sizeof(parameter) bytes from the slot's start,
        // which on little-endian x86-64 is the low part of the value for 4-byte ints and floats.
        unsafe
        {
            ulong* slots = stackalloc ulong[args.Length];
            void** ptrs = stackalloc void*[args.Length];
            for (int i = 0; i < args.Length; i++)
            {
                slots[i] = args[i].Bits;
                ptrs[i] = slots + i;
            }
            // The driver launches into the calling thread's current context: make ours current (any thread may call).
            _dev.MakeCurrent();
            CuApi.Check(CuApi.cuLaunchKernel(f, gx, gy, gz, block, 1, 1, shared, _dev.Stream, ptrs, null), $"cuLaunchKernel({name})");
        }
    }

    /// <summary>One kernel argument: its kind (see <see cref="KernelSignatures"/>) and its bits.</summary>
    private readonly record struct KArg(char Kind, ulong Bits);

    private static KArg I(int v) => new('i', (uint)v);

    private static KArg L(long v) => new('l', (ulong)v);

    private static KArg F(float v) => new('f', BitConverter.SingleToUInt32Bits(v));

    private static KArg D(ulong devicePtr) => new('p', devicePtr);

    private KArg P(IDeviceBuffer b) => D(Buf(b).Ptr);

    private CudaBuffer Buf(IDeviceBuffer b, BufferKind? kind = null)
    {
        if (b is not CudaBuffer cb || !ReferenceEquals(cb.Owner, this)) throw new ArgumentException("the buffer was not made by this CUDA backend");
        if (cb.IsDisposed) throw new ObjectDisposedException("CUDA buffer");
        if (kind is BufferKind k && cb.Kind != k) throw new ArgumentException($"expected a {k} buffer, got {cb.Kind}");
        return cb;
    }

    private void Need(IDeviceBuffer b, long n, BufferKind kind = BufferKind.F32)
    {
        var cb = Buf(b, kind);
        if (cb.Length < n) throw new ArgumentException($"buffer holds {cb.Length} elements, the op needs {n}");
    }

    private IDisposable? Time(string name) => _profile?.Begin(name);

    public void Dispose()
    {
        if (_disposed) return;
        try
        {
            _dev.Synchronize();
        }
        catch (CudaException)
        {
            // A sticky error from earlier work: release everything anyway.
        }
        _profile?.Dispose();
        ReleaseResources();
        _disposed = true;
    }

    /// <summary>Frees everything the constructor made, in reverse order; fields not yet assigned are null.</summary>
    private void ReleaseResources()
    {
        // The fields are null when the constructor failed before assigning them, whatever their declared types say.
        foreach (var s in new[] { _bf16In, _q, _k, _v, _y, _att, _logits, _state, _rotary, _widened }) s?.Dispose();
        foreach (var e in _stageFree) e?.Dispose();
        foreach (var s in _stage) s?.Dispose();
        _blas?.Dispose();
        _module?.Dispose();
        _dev.Dispose();
    }

    /// <summary>Grow-only device scratch.</summary>
    private sealed class Scratch(CudaDevice dev) : IDisposable
    {
        private DeviceMemoryHandle? _mem;

        public ulong Get(long bytes)
        {
            if (_mem is null || _mem.Bytes < bytes)
            {
                // The old block may still be read or written by queued work: cuMemFree does not promise to wait.
                if (_mem is not null) dev.FreeAfterQueuedWork(_mem);
                _mem = dev.Allocate(bytes);
            }
            return _mem.Pointer;
        }

        public void Dispose() => _mem?.Dispose();
    }

    internal sealed class CudaBuffer(CudaBackend owner, DeviceMemoryHandle mem, long length, BufferKind kind) : IDeviceBuffer
    {
        public CudaBackend Owner { get; } = owner;

        public long Length { get; } = length;

        public BufferKind Kind { get; } = kind;

        public ulong Ptr => mem.Pointer;

        public bool IsDisposed => mem.IsClosed;

        public void Dispose()
        {
            if (mem.IsClosed) return;
            Owner.AllocatedBytes -= mem.Bytes;
            // Queued work (the zero fill, a copy, a kernel) may still use the buffer.
            Owner._dev.FreeAfterQueuedWork(mem);
        }
    }
}

/// <summary>Element type of a CUDA buffer.</summary>
public enum BufferKind
{
    F32,
    I32,
    Bf16,
}

internal static class BufferKindExtensions
{
    public static int Size(this BufferKind k) => k == BufferKind.Bf16 ? 2 : 4;
}
