using System.Runtime.InteropServices;
using LearningCurves.Engine;
using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Model;
using LearningCurves.Kernels.Native;

namespace LearningCurves.Kernels;

/// <summary>
/// The GPU backend: kernels.cu compiled by NVRTC for the device (cached on disk), cuBLAS for the matrix products.
/// fp32: cuBLAS default math, no TF32 anywhere. tf32: cuBLAS may use TF32 tensor cores. bf16: matrix weights stored
/// in bf16; the activations that feed a product are written in bf16 by the op that makes them (the model chooses, by
/// buffer type; no conversion kernel runs in a forward pass); fp32 accumulation, statistics and residual stream.
/// All work is queued on one stream; host transfers go through two pinned staging buffers.
/// </summary>
public sealed partial class CudaBackend : IBackend, IGraphBackend
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
    /// <summary>cuBLASLt, where libcublasLt loaded: every product with its epilogue in one call; null: the
    /// cublasGemmEx fallback with epilogue kernels.</summary>
    private readonly CublasLtGemm? _lt;
    private readonly Scratch _gemmOut, _q, _k, _v, _y, _att, _logits, _state, _widened, _partial;
    /// <summary>The rotary angle tables made so far, by (T, R, base, past): kept (not overwritten) so that a graph
    /// captured for one shape still finds its own table after another shape ran. Cleared, which invalidates graphs,
    /// past <see cref="MaxRotaryTables"/> (decoding makes one per position).</summary>
    private readonly Dictionary<(int T, int R, RotaryFrequencies Frequencies, int Past), DeviceMemoryHandle> _rotaryTables = new();

    private const int MaxRotaryTables = 256;

    private void Invalidate() => GraphEpoch++;
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
            _blas = new CublasHandle(_dev.ContextLife, h);
            CublasApi.Check(CublasApi.cublasSetStream_v2(_blas.Value, _dev.Stream), "cublasSetStream_v2");
            // fp32 must not pick TF32 kernels behind our back; tf32 allows them for plain sgemm calls too.
            int mode = precision == Precision.Tf32 ? CublasApi.Tf32TensorOpMath : CublasApi.DefaultMath;
            CublasApi.Check(CublasApi.cublasSetMathMode(_blas.Value, mode), "cublasSetMathMode");
            CublasApi.Check(CublasApi.cublasGetVersion_v2(_blas.Value, out int bv), "cublasGetVersion_v2");
            CublasVersion = bv;
            _lt = CublasLtGemm.TryCreate(_dev);
            for (int i = 0; i < 2; i++)
            {
                _stage[i] = _dev.AllocatePinned(StageBytes);
                _stageFree[i] = _dev.CreateEvent(timing: false);
            }
            _gemmOut = new Scratch(_dev, Invalidate);
            _q = new Scratch(_dev, Invalidate);
            _k = new Scratch(_dev, Invalidate);
            _v = new Scratch(_dev, Invalidate);
            _y = new Scratch(_dev, Invalidate);
            _att = new Scratch(_dev, Invalidate);
            _logits = new Scratch(_dev, Invalidate);
            _state = new Scratch(_dev, Invalidate);
            _partial = new Scratch(_dev, Invalidate);
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

    /// <summary>Every kernel of kernels.cu with its parameter kinds in order (p = pointer, i = int, l = long long,
    /// f = float), read from the file's own prototypes (<see cref="KernelDeclarations"/>). Each launch is checked against it.</summary>
    public static IReadOnlyDictionary<string, string> KernelSignatures => KernelDeclarations.Embedded;

    public static IReadOnlyList<string> KernelNames => KernelSignatures.Keys.ToArray();

    public string Name => "cuda";

    public string DeviceName => _dev.Describe();

    public CudaDevice Device => _dev;

    public int CublasVersion { get; }

    public Precision Precision { get; }

    /// <summary>True (the default) where libcublasLt loaded: products apply their epilogues themselves (cuBLASLt). False:
    /// the cublasGemmEx fallback with its epilogue kernels, as where libcublasLt is missing (tests run both).</summary>
    public bool UseCublasLt { get; set; } = true;

    /// <summary>True when this backend's products go through cuBLASLt.</summary>
    public bool CublasLtActive => _lt is not null && UseCublasLt;

    /// <summary>When true, attention uses cuBLAS batched products around softmax_causal instead of attention_fused
    /// (the only path for head sizes above 128).</summary>
    public bool UseCublasAttention { get; set; }

    public long? FreeMemoryBytes => _dev.MemoryInfo().Free;

    /// <summary>Scratch budget for one chunk of head logits (M, Vc); smaller values force more chunks (tests).</summary>
    public long HeadChunkBytes { get; set; } = DefaultHeadChunkBytes;

    /// <summary>Bytes this backend holds in buffers it handed out (not scratch).</summary>
    public long AllocatedBytes { get; private set; }

    /// <summary>Kernel launches and cuBLAS calls queued by this backend so far, those of a captured graph counted at each
    /// replay (not at the capture, which runs nothing): the kernels that ran, however they were launched.</summary>
    public long Launches { get; private set; }

    /// <summary>Graph replays queued so far (<see cref="CudaGraph.Replay"/>): one launch each.</summary>
    public long GraphReplays { get; private set; }

    /// <summary>Launches recorded by the capture in progress.</summary>
    private int _captured;

    private void CountLaunch()
    {
        if (_dev.Capturing) _captured++;
        else Launches++;
    }

    /// <summary>Bumped whenever memory or state a captured graph may refer to is replaced (a scratch buffer grown, the
    /// rotary table cache cleared): graphs captured before are then invalid (<see cref="CudaGraph.IsValid"/>).</summary>
    internal long GraphEpoch { get; private set; }

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

    public IDeviceBuffer Allocate(long length, DType type) => NewBuffer(length, type);

    private CudaBuffer NewBuffer(long length, DType kind)
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
        var buf = NewBuffer(data.Length, DType.F32);
        CopyIn(buf.Ptr, MemoryMarshal.AsBytes(data));
        return buf;
    }

    public IDeviceBuffer UploadWeight(ReadOnlySpan<float> data)
    {
        if (Precision != Precision.Bf16) return Upload(data);
        var buf = NewBuffer(data.Length, DType.Bf16);
        CopyInBf16(buf.Ptr, data);
        return buf;
    }

    /// <summary>Rounds floats to bf16 on the host, chunk by chunk straight into the pinned staging memory (no
    /// full-size host copy), and copies them to <paramref name="dst"/>.</summary>
    private void CopyInBf16(ulong dst, ReadOnlySpan<float> data)
    {
        long perChunk = StageBytes / 2;
        for (long done = 0; done < data.Length; done += perChunk)
        {
            int n = (int)Math.Min(perChunk, data.Length - done);
            var slot = NextStage();
            unsafe
            {
                var staged = new Span<ushort>((void*)_stage[slot].Pointer, n);
                Bf16.FromFloat(data.Slice((int)done, n), staged);
            }
            _dev.CopyToDevice(dst + (ulong)(done * 2), _stage[slot].Pointer, n * 2L);
            _dev.Record(_stageFree[slot]);
        }
    }

    public void Write(IDeviceBuffer dst, ReadOnlySpan<int> data)
    {
        var b = Buf(dst, DType.I32);
        if (data.Length > b.Length) throw new ArgumentException($"writing {data.Length} ints into a buffer of {b.Length}");
        ThrowIfDisposed();
        CopyIn(b.Ptr, MemoryMarshal.AsBytes(data));
        GC.KeepAlive(b); // the copy is queued with the raw pointer: the buffer must outlive the call (see Download)
    }

    public void Write(IDeviceBuffer dst, ReadOnlySpan<float> data)
    {
        var b = Buf(dst);
        if (b.Type == DType.I32) throw new ArgumentException($"Write: expected an F32 or Bf16 buffer for floats, got {b.Type}");
        if (data.Length > b.Length) throw new ArgumentException($"writing {data.Length} floats into a buffer of {b.Length}");
        ThrowIfDisposed();
        if (b.Type == DType.Bf16) CopyInBf16(b.Ptr, data);
        else CopyIn(b.Ptr, MemoryMarshal.AsBytes(data));
        GC.KeepAlive(b); // see Download
    }

    /// <summary>Converts stored values chunk by chunk straight into the pinned staging memory and copies each chunk to
    /// its place in <paramref name="dst"/>: bf16 bits into a bf16 buffer are copied as they are; the host holds nothing
    /// beyond the two staging buffers and, for F16 into bf16, one small float scratch.</summary>
    public void WriteStored(IDeviceBuffer dst, long offset, ReadOnlySpan<byte> src, StoredType type)
    {
        long n = DTypes.CheckStored(dst, offset, src, type);
        var b = Buf(dst);
        ThrowIfDisposed();
        int inSize = type.Size(), outSize = b.Type.Size();
        if ((type == StoredType.F32 && b.Type == DType.F32) || (type == StoredType.Bf16 && b.Type == DType.Bf16))
        {
            CopyIn(b.Ptr + (ulong)(offset * outSize), src);
            GC.KeepAlive(b);
            return;
        }
        // F16 into bf16 goes through floats: a bounded scratch, converted piece by piece.
        const int Piece = 1 << 16;
        float[]? wide = type == StoredType.F16 && b.Type == DType.Bf16 ? new float[Piece] : null;
        long perChunk = StageBytes / outSize;
        for (long done = 0; done < n; done += perChunk)
        {
            int m = (int)Math.Min(perChunk, n - done);
            var slot = NextStage();
            var from = src.Slice((int)(done * inSize), m * inSize);
            unsafe
            {
                if (b.Type == DType.F32)
                {
                    DTypes.Widen(from, type, new Span<float>((void*)_stage[slot].Pointer, m));
                }
                else if (type == StoredType.F32)
                {
                    Bf16.FromFloat(MemoryMarshal.Cast<byte, float>(from), new Span<ushort>((void*)_stage[slot].Pointer, m));
                }
                else
                {
                    var staged = new Span<ushort>((void*)_stage[slot].Pointer, m);
                    for (int k = 0; k < m; k += Piece)
                    {
                        int q = Math.Min(Piece, m - k);
                        DTypes.Widen(from.Slice(k * 2, q * 2), StoredType.F16, wide.AsSpan(0, q));
                        Bf16.FromFloat(wide.AsSpan(0, q), staged.Slice(k, q));
                    }
                }
            }
            _dev.CopyToDevice(b.Ptr + (ulong)((offset + done) * outSize), _stage[slot].Pointer, (long)m * outSize);
            _dev.Record(_stageFree[slot]);
        }
        GC.KeepAlive(b);
    }

    /// <summary>Copies the first dst.Length values of an fp32 buffer to the host; a bf16 buffer reads back as the floats
    /// it stores, widened on the device by convert_bf16_to_f32 (exact).</summary>
    public void Download(IDeviceBuffer src, Span<float> dst)
    {
        var b = Buf(src);
        if (b.Type == DType.I32) throw new ArgumentException($"Download: expected an F32 or Bf16 buffer, got {b.Type}");
        if (dst.Length > b.Length) throw new ArgumentException($"reading {dst.Length} floats from a buffer of {b.Length}");
        ThrowIfDisposed();
        ulong from = b.Ptr;
        if (b.Type == DType.Bf16 && dst.Length > 0)
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
        // Only the raw pointer is used above: without this, the GC may finalize an otherwise unreferenced buffer (its
        // memory handle) while the copy is still reading it (seen once on the software GPU as a read of freed memory).
        GC.KeepAlive(b);
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
        // A captured copy would read or write the staging buffer when the graph replays, not now: never right here.
        if (_dev.Capturing)
            throw new InvalidOperationException("host transfers (Upload, Write, Download) during CUDA graph capture: write inputs before Replay, download outputs after it");
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
        Need(tokens, (long)b * t, DType.I32);
        Need(wte, 1);
        Need(wpe, 1);
        using var _ = Time("embed_forward");
        Launch("embed_forward", Grid(n), 1, 1, 0, P(output), P(tokens), P(wte), P(wpe), I(b), I(t), I(c));
    }

    public void LayerNorm(IDeviceBuffer output, IDeviceBuffer input, IDeviceBuffer weight, IDeviceBuffer bias, int rows, int c, float eps)
    {
        ThrowIfDisposed();
        var o = NeedFloat(output, (long)rows * c, "LayerNorm", "output");
        Need(input, (long)rows * c);
        Need(weight, c);
        Need(bias, c);
        string kernel = o.Type == DType.Bf16 ? "layernorm_forward_bf16" : "layernorm_forward";
        using var _ = Time(kernel);
        Launch(kernel, Blocks(rows, Block / 32), 1, 1, 0, P(output), P(input), P(weight), P(bias), I(rows), I(c), F(eps));
    }

    public void ResidualLayerNorm(IDeviceBuffer residual, IDeviceBuffer norm, IDeviceBuffer y, IDeviceBuffer bias,
        IDeviceBuffer weight, IDeviceBuffer lnBias, int rows, int c, float eps)
    {
        ThrowIfDisposed();
        long n = (long)rows * c;
        Need(residual, n);
        var o = NeedFloat(norm, n, "ResidualLayerNorm", "norm");
        Need(y, n);
        Need(bias, c);
        Need(weight, c);
        Need(lnBias, c);
        string kernel = o.Type == DType.Bf16 ? "fused_residual_layernorm_bf16" : "fused_residual_layernorm";
        using var _ = Time(kernel);
        Launch(kernel, Blocks(rows, Block / 32), 1, 1, 0, P(residual), P(norm), P(y), P(bias), P(weight), P(lnBias), I(rows), I(c), F(eps));
    }

    public void MatMul(IDeviceBuffer output, IDeviceBuffer input, IDeviceBuffer weight, IDeviceBuffer? bias, int rows, int inDim, int outDim, MatMulEpilogue epilogue)
    {
        ThrowIfDisposed();
        MatMulEpilogues.CheckBias(epilogue, bias);
        MatMulEpilogues.CheckTypes(Precision, epilogue, output, input, bias);
        var o = Buf(output);
        var x = Buf(input);
        var w = Buf(weight, x.Type);
        NeedFloat(output, (long)rows * outDim, "MatMul", "output");
        Need(input, (long)rows * inDim, x.Type);
        if (bias is not null) Need(bias, outDim, o.Type); // the output's type (CheckTypes)
        if (w.Length < (long)inDim * outDim) throw new ArgumentException($"weight holds {w.Length} values, ({inDim}, {outDim}) needs {(long)inDim * outDim}");
        var (epi, beta) = epilogue switch
        {
            MatMulEpilogue.None => (GemmEpilogue.None, 0f),
            MatMulEpilogue.Bias => (GemmEpilogue.Bias, 0f),
            MatMulEpilogue.BiasGelu => (GemmEpilogue.BiasGeluTanh, 0f),
            MatMulEpilogue.BiasResidual => (GemmEpilogue.Bias, 1f),
            _ => throw new ArgumentOutOfRangeException(nameof(epilogue)),
        };
        // out (rows, outDim) = epilogue(in (rows, inDim) @ W (inDim, outDim) + bias) + beta * out.
        GemmRowMajor(o.Ptr, o.Type, outDim, x.Ptr, x.Type, w.Ptr, w.Type, transB: false, rows, outDim, inDim,
            bias is null ? 0 : Buf(bias).Ptr, epi, beta);
    }

    /// <summary>The epilogues a product can apply (cuBLASLt's CUBLASLT_EPILOGUE_DEFAULT / BIAS / GELU_BIAS).</summary>
    private enum GemmEpilogue
    {
        None,
        Bias,
        BiasGeluTanh,
    }

    /// <summary>
    /// Every product of the forward pass, with its epilogue: row-major D (m, n; row stride ldd) =
    /// epilogue(A (m, k) @ op(B) + bias (n)) + beta * D, op(B) = B (k, n) or, when <paramref name="transB"/>, B^T with
    /// B (n, k) (the head). A and B of one type (F32, or Bf16 with fp32 accumulation); D F32 or Bf16 (the epilogue in
    /// fp32, D rounded once); bias F32 or 0 (none, exactly for <see cref="GemmEpilogue.None"/>); beta 0 or 1 (1: D F32,
    /// the residual add). These are exactly the parameters of a cuBLASLt matmul with that epilogue; this
    /// implementation is the cublasGemmEx fallback: the product, then the epilogue as its own kernel (bias_add /
    /// bias_gelu_forward in place on an fp32 D; epilogue_bias_bf16 / epilogue_bias_gelu_bf16 from an fp32 scratch
    /// product for a bf16 D, so the value is rounded once, after the epilogue, as cuBLASLt rounds it).
    /// </summary>
    private void GemmRowMajor(ulong d, DType dType, int ldd, ulong a, DType aType, ulong b, DType bType, bool transB,
        int m, int n, int k, ulong bias, GemmEpilogue epilogue, float beta)
    {
        if (aType != bType || aType == DType.I32) throw new ArgumentException($"GEMM operands must be of one float type, got {aType} and {bType}");
        if (dType == DType.I32) throw new ArgumentException("GEMM output must be F32 or Bf16, got I32");
        if ((bias == 0) != (epilogue == GemmEpilogue.None)) throw new ArgumentException($"GEMM epilogue {epilogue} with{(bias == 0 ? "out" : "")} a bias");
        if (beta != 0f && (beta != 1f || dType != DType.F32 || epilogue == GemmEpilogue.BiasGeluTanh))
            throw new ArgumentException($"GEMM beta {beta} with a {dType} output and epilogue {epilogue}: only beta 1 into F32 with None or Bias");
        if (epilogue != GemmEpilogue.None && ldd != n) throw new ArgumentException("GEMM epilogues need a dense output (ldd == n)");
        if (_lt is not null && UseCublasLt)
        {
            static LtElement Lt(DType t) => t == DType.Bf16 ? LtElement.Bf16 : LtElement.F32;
            var ltEpilogue = epilogue switch
            {
                GemmEpilogue.Bias => LtEpilogue.Bias,
                GemmEpilogue.BiasGeluTanh => LtEpilogue.BiasGeluTanh,
                _ => LtEpilogue.None,
            };
            using var timed = Time(aType == DType.Bf16 ? "gemm bf16 (cublasLt)" : Precision == Precision.Tf32 ? "gemm tf32 (cublasLt)" : "gemm fp32 (cublasLt)");
            _lt.Matmul(m, n, k, a, Lt(aType), k, b, Lt(bType), transB ? k : n, transB, d, Lt(dType), ldd, bias, ltEpilogue, beta,
                allowTf32: Precision == Precision.Tf32, _dev.Stream);
            CountLaunch();
            return;
        }
        string what = aType == DType.Bf16 ? "gemm bf16 (cublasGemmEx)" : Precision == Precision.Tf32 ? "gemm tf32 (cublasGemmEx)" : "gemm fp32 (cublasGemmEx)";
        // A bf16 output with an epilogue: the product goes to fp32 scratch first, the epilogue kernel rounds.
        bool viaScratch = epilogue != GemmEpilogue.None && dType == DType.Bf16;
        ulong target = viaScratch ? _gemmOut.Get((long)m * n * 4) : d;
        DType targetType = viaScratch ? DType.F32 : dType;
        using (Time(what))
        {
            // Row-major D (m, n) = A (m, k) @ op(B) is, column-major, D^T (n, m) = op(B)^T (n, k) @ A^T (k, m).
            int type = aType == DType.Bf16 ? CublasApi.R16BF : CublasApi.R32F;
            int compute = aType == DType.Bf16 || Precision == Precision.Fp32 ? CublasApi.Compute32F : CublasApi.Compute32FFastTf32;
            int cType = targetType == DType.Bf16 ? CublasApi.R16BF : CublasApi.R32F;
            _dev.MakeCurrent();
            CublasApi.Check(CublasApi.cublasGemmEx(_blas.Value, transB ? CublasApi.OpT : CublasApi.OpN, CublasApi.OpN, n, m, k,
                1f, b, type, transB ? k : n, a, type, k, beta, target, cType, ldd, compute, CublasApi.GemmDefault), "cublasGemmEx");
            CountLaunch();
        }
        if (epilogue == GemmEpilogue.None) return;
        long count = (long)m * n;
        string kernel = (epilogue, viaScratch) switch
        {
            (GemmEpilogue.Bias, false) => "bias_add",
            (GemmEpilogue.BiasGeluTanh, false) => "bias_gelu_forward",
            (GemmEpilogue.Bias, true) => "epilogue_bias_bf16",
            _ => "epilogue_bias_gelu_bf16",
        };
        using var _ = Time(kernel);
        if (viaScratch) Launch(kernel, Grid(count), 1, 1, 0, D(d), D(target), D(bias), I(m), I(n));
        else Launch(kernel, Grid(count), 1, 1, 0, D(d), D(bias), I(m), I(n));
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
        var b = NeedFloat(x, n, "GeluErf", "x");
        string kernel = b.Type == DType.Bf16 ? "gelu_erf_forward_bf16" : "gelu_erf_forward";
        using var _ = Time(kernel);
        Launch(kernel, Grid(n), 1, 1, 0, P(x), L(n));
    }

    public void Convert(IDeviceBuffer output, IDeviceBuffer input, long n)
    {
        ThrowIfDisposed();
        var o = NeedFloat(output, n, "Convert", "output");
        var i = NeedFloat(input, n, "Convert", "input");
        if (n == 0) return;
        string kernel = (i.Type, o.Type) switch
        {
            (DType.F32, DType.Bf16) => "convert_f32_to_bf16",
            (DType.Bf16, DType.F32) => "convert_bf16_to_f32",
            _ => throw new ArgumentException($"Convert: {i.Type} to {o.Type} is a copy; pass the buffer itself"),
        };
        using var _ = Time(kernel);
        Launch(kernel, Grid(n), 1, 1, 0, P(output), P(input), L(n));
    }

    public void Rotary(IDeviceBuffer qkv, int b, int t, int heads, int kvHeads, int headSize, int rotaryDims, RotaryFrequencies rotary, int past)
    {
        ThrowIfDisposed();
        CheckHeads(heads, kvHeads, headSize, "rotary");
        if (rotaryDims < 0 || rotaryDims % 2 != 0 || rotaryDims > headSize)
            throw new ArgumentException($"rotary: {rotaryDims} dims must be even and at most the head size {headSize}");
        var q = NeedFloat(qkv, (long)b * t * (heads + 2 * kvHeads) * headSize, "Rotary", "qkv");
        int half = rotaryDims / 2;
        if (half == 0 || b == 0 || t == 0) return;
        var (cos, sin) = RotaryTable(t, rotaryDims, rotary, past);
        string kernel = q.Type == DType.Bf16 ? "rotary_forward_bf16" : "rotary_forward";
        using var _ = Time(kernel);
        Launch(kernel, Grid((long)b * t * (heads + kvHeads) * half), 1, 1, 0, P(qkv), D(cos), D(sin),
            I(b), I(t), I(heads), I(kvHeads), I(headSize), I(rotaryDims));
    }

    /// <summary>The device angle tables cos, sin (T, R/2) of positions past..past+T-1 (R = <paramref name="rotaryDims"/>
    /// &gt; 0), as rotary_forward and the attention kernels' fused rotary take them. Made on the host in double precision
    /// (kernels.cu says why) by <see cref="CpuOps.RotaryTable"/> and uploaded once per shape and position: every layer of
    /// a forward pass reuses them.</summary>
    private (ulong Cos, ulong Sin) RotaryTable(int t, int rotaryDims, RotaryFrequencies rotary, int past)
    {
        var key = (t, rotaryDims, rotary, past);
        long tableFloats = (long)t * (rotaryDims / 2);
        if (!_rotaryTables.TryGetValue(key, out var mem))
        {
            if (_rotaryTables.Count >= MaxRotaryTables)
            {
                foreach (var old in _rotaryTables.Values) _dev.FreeAfterQueuedWork(old);
                _rotaryTables.Clear();
                Invalidate();
            }
            var host = new float[2 * tableFloats];
            CpuOps.RotaryTable(t, rotaryDims, rotary, past, host.AsSpan(0, (int)tableFloats), host.AsSpan((int)tableFloats));
            mem = _dev.Allocate(2 * tableFloats * 4);
            _rotaryTables.Add(key, mem);
            CopyIn(mem.Pointer, MemoryMarshal.AsBytes(host.AsSpan()));
        }
        return (mem.Pointer, mem.Pointer + (ulong)(tableFloats * 4));
    }

    /// <summary>Throws unless kvHeads divides heads (grouped-query attention) and the head size is positive.</summary>
    private static void CheckHeads(int heads, int kvHeads, int headSize, string op)
    {
        if (heads <= 0 || kvHeads <= 0 || heads % kvHeads != 0 || headSize <= 0)
            throw new ArgumentException($"{op}: {heads} heads must be a positive multiple of {kvHeads} kv heads (head size {headSize})");
    }

    public void RmsNorm(IDeviceBuffer output, IDeviceBuffer input, IDeviceBuffer weight, int rows, int c, float eps)
    {
        ThrowIfDisposed();
        var o = NeedFloat(output, (long)rows * c, "RmsNorm", "output");
        Need(input, (long)rows * c);
        Need(weight, c);
        if (rows == 0) return;
        string kernel = o.Type == DType.Bf16 ? "rmsnorm_forward_bf16" : "rmsnorm_forward";
        using var _ = Time(kernel);
        Launch(kernel, Blocks(rows, Block / 32), 1, 1, 0, P(output), P(input), P(weight), I(rows), I(c), F(eps));
    }

    public void ResidualRmsNorm(IDeviceBuffer residual, IDeviceBuffer norm, IDeviceBuffer y, IDeviceBuffer? bias, IDeviceBuffer weight,
        int rows, int c, float eps)
    {
        ThrowIfDisposed();
        long n = (long)rows * c;
        Need(residual, n);
        var o = NeedFloat(norm, n, "ResidualRmsNorm", "norm");
        Need(y, n);
        if (bias is not null) Need(bias, c);
        Need(weight, c);
        if (rows == 0) return;
        string kernel = o.Type == DType.Bf16 ? "fused_residual_rmsnorm_bf16" : "fused_residual_rmsnorm";
        using var _ = Time(kernel);
        Launch(kernel, Blocks(rows, Block / 32), 1, 1, 0, P(residual), P(norm), P(y), bias is null ? D(0) : P(bias), P(weight),
            I(rows), I(c), F(eps));
    }

    public void SwiGlu(IDeviceBuffer output, IDeviceBuffer gate, IDeviceBuffer up, int rows, int inner)
    {
        ThrowIfDisposed();
        long n = (long)rows * inner;
        var o = NeedFloat(output, n, "SwiGlu", "output");
        Need(gate, n, o.Type);
        Need(up, n, o.Type);
        SwiGluLaunch(output, Buf(gate).Ptr, Buf(up).Ptr, rows, inner, inner, o.Type);
    }

    public void SwiGluFused(IDeviceBuffer output, IDeviceBuffer gateUp, int rows, int inner)
    {
        ThrowIfDisposed();
        var o = NeedFloat(output, (long)rows * inner, "SwiGluFused", "output");
        Need(gateUp, 2L * rows * inner, o.Type);
        ulong g = Buf(gateUp).Ptr;
        SwiGluLaunch(output, g, g + (ulong)((long)inner * o.Type.Size()), rows, inner, 2 * inner, o.Type);
    }

    private void SwiGluLaunch(IDeviceBuffer output, ulong gate, ulong up, int rows, int inner, int ld, DType type)
    {
        long n = (long)rows * inner;
        if (n == 0) return;
        string kernel = type == DType.Bf16 ? "swiglu_forward_bf16" : "swiglu_forward";
        using var _ = Time(kernel);
        Launch(kernel, Grid(n), 1, 1, 0, P(output), D(gate), D(up), I(rows), I(inner), I(ld));
    }

    public void QkNorm(IDeviceBuffer qkv, IDeviceBuffer qWeight, IDeviceBuffer kWeight, int rows, int heads, int kvHeads, int headSize, float eps)
    {
        ThrowIfDisposed();
        CheckHeads(heads, kvHeads, headSize, "QkNorm");
        var q = NeedFloat(qkv, (long)rows * (heads + 2 * kvHeads) * headSize, "QkNorm", "qkv");
        Need(qWeight, (long)heads * headSize);
        Need(kWeight, (long)kvHeads * headSize);
        if (rows == 0) return;
        string kernel = q.Type == DType.Bf16 ? "qk_norm_bf16" : "qk_norm";
        using var _ = Time(kernel);
        Launch(kernel, Blocks(2L * rows, Block / 32), 1, 1, 0, P(qkv), P(qWeight), P(kWeight), I(rows), I(heads), I(kvHeads),
            I(headSize), F(eps));
    }

    public void Clamp(IDeviceBuffer x, long n, float limit)
    {
        ThrowIfDisposed();
        var b = NeedFloat(x, n, "Clamp", "x");
        if (n == 0) return;
        string kernel = b.Type == DType.Bf16 ? "clamp_forward_bf16" : "clamp_forward";
        using var _ = Time(kernel);
        Launch(kernel, Grid(n), 1, 1, 0, P(x), L(n), F(limit));
    }

    public void GatherRows(IDeviceBuffer output, IDeviceBuffer input, IDeviceBuffer rows, int count, int c)
    {
        ThrowIfDisposed();
        var i = Buf(input);
        if (i.Type == DType.I32) throw new ArgumentException("GatherRows: input must be F32 or Bf16, got I32");
        Need(output, (long)count * c, i.Type);
        Need(rows, count, DType.I32);
        string kernel = i.Type == DType.Bf16 ? "gather_rows_bf16" : "gather_rows";
        using var _ = Time(kernel);
        Launch(kernel, Grid((long)count * c), 1, 1, 0, P(output), P(input), P(rows), I(count), I(c));
    }

    public void Surprisal(IDeviceBuffer output, IDeviceBuffer hidden, IDeviceBuffer head, IDeviceBuffer targets, int m, int c, int v, int headRows)
    {
        ThrowIfDisposed();
        if (m == 0) return;
        Need(output, m);
        var x = CheckHead(hidden, head, m, c, v, headRows, "Surprisal");
        var h = Buf(head);
        Need(targets, m, DType.I32);
        // Chunks of the padded vocabulary: every product covers whole 128-row tiles of the head (the zero rows past V
        // included, so the product's stride stays aligned); surprisal_chunk reads only the real columns of each chunk.
        int chunk = HeadChunk(m, headRows, HeadChunkBytes);
        ulong logits = _logits.Get((long)m * chunk * 4);
        ulong state = _state.Get(3L * m * 4);
        for (int v0 = 0; v0 < v; v0 += chunk)
        {
            int rowsHere = Math.Min(chunk, headRows - v0), cols = Math.Min(chunk, v - v0);
            // logits (M, rowsHere; ld chunk) = hidden (M, C) @ head[v0 .. v0+rowsHere) (rowsHere, C)^T.
            using (Time("head logits"))
                GemmRowMajor(logits, DType.F32, chunk, x.Ptr, x.Type, h.Ptr + (ulong)((long)v0 * c * h.Type.Size()), h.Type, transB: true,
                    m, rowsHere, c, 0, GemmEpilogue.None, 0f);
            using (Time("surprisal_chunk"))
                Launch("surprisal_chunk", (uint)m, 1, 1, 0, D(state), D(logits), P(targets), I(m), I(cols), I(chunk), I(v0));
        }
        using (Time("surprisal_finish"))
            Launch("surprisal_finish", Blocks(m, Block), 1, 1, 0, P(output), D(state), I(m));
    }

    /// <summary>Checks the head's operands: hidden (M, C) of the precision's GEMM input type, the head (headRows, C) of
    /// the same type with headRows &gt;= V.</summary>
    private CudaBuffer CheckHead(IDeviceBuffer hidden, IDeviceBuffer head, int m, int c, int v, int headRows, string op)
    {
        DTypes.Check(hidden, DTypes.GemmInput(Precision), op, "hidden");
        DTypes.Check(head, hidden.Type, op, "head");
        var x = Buf(hidden);
        Need(hidden, (long)m * c, x.Type);
        if (headRows < v) throw new ArgumentException($"{op}: the head has {headRows} rows, fewer than the vocabulary ({v})");
        var h = Buf(head);
        if (h.Length < (long)headRows * c) throw new ArgumentException($"{op}: head holds {h.Length} values, ({headRows}, {c}) needs {(long)headRows * c}");
        return x;
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
        var o = Buf(output, DType.F32);
        Need(output, (long)m * v);
        var x = CheckHead(hidden, head, m, c, v, v, "Logits");
        var h = Buf(head);
        using var _ = Time("head logits");
        GemmRowMajor(o.Ptr, DType.F32, v, x.Ptr, x.Type, h.Ptr, h.Type, transB: true, m, v, c, 0, GemmEpilogue.None, 0f);
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
            CountLaunch();
        }
    }

    /// <summary>One kernel argument: its kind (see <see cref="KernelSignatures"/>) and its bits.</summary>
    private readonly record struct KArg(char Kind, ulong Bits);

    private static KArg I(int v) => new('i', (uint)v);

    private static KArg L(long v) => new('l', (ulong)v);

    private static KArg F(float v) => new('f', BitConverter.SingleToUInt32Bits(v));

    private static KArg D(ulong devicePtr) => new('p', devicePtr);

    private KArg P(IDeviceBuffer b) => D(Buf(b).Ptr);

    private CudaBuffer Buf(IDeviceBuffer b, DType? type = null)
    {
        if (b is not CudaBuffer cb || !ReferenceEquals(cb.Owner, this)) throw new ArgumentException("the buffer was not made by this CUDA backend");
        if (cb.IsDisposed) throw new ObjectDisposedException("CUDA buffer");
        if (type is DType k && cb.Type != k) throw new ArgumentException($"expected a {k} buffer, got {cb.Type}");
        return cb;
    }

    private void Need(IDeviceBuffer b, long n, DType type = DType.F32)
    {
        var cb = Buf(b, type);
        if (cb.Length < n) throw new ArgumentException($"buffer holds {cb.Length} elements, the op needs {n}");
    }

    /// <summary>An F32 or Bf16 buffer of at least n elements (ops whose output type chooses the kernel).</summary>
    private CudaBuffer NeedFloat(IDeviceBuffer b, long n, string op, string what)
    {
        DTypes.CheckFloat(b, op, what);
        var cb = Buf(b);
        if (cb.Length < n) throw new ArgumentException($"{op}: {what} holds {cb.Length} elements, the op needs {n}");
        return cb;
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
        foreach (var s in new[] { _gemmOut, _q, _k, _v, _y, _att, _logits, _state, _widened, _partial }) s?.Dispose();
        foreach (var m in _rotaryTables.Values) m.Dispose();
        foreach (var e in _stageFree) e?.Dispose();
        foreach (var s in _stage) s?.Dispose();
        _lt?.Dispose();
        _blas?.Dispose();
        _module?.Dispose();
        _dev.Dispose();
    }

    /// <summary>Grow-only device scratch.</summary>
    /// <remarks>Growing one replaces memory captured graphs may refer to: <paramref name="replaced"/> is called then.</remarks>
    private sealed class Scratch(CudaDevice dev, Action? replaced = null) : IDisposable
    {
        private DeviceMemoryHandle? _mem;

        public ulong Get(long bytes)
        {
            if (_mem is null || _mem.Bytes < bytes)
            {
                // Allocated first: a refused allocation (inside a graph capture) leaves the old block in place.
                var grown = dev.Allocate(bytes);
                // The old block may still be read or written by queued work: cuMemFree does not promise to wait.
                if (_mem is not null)
                {
                    dev.FreeAfterQueuedWork(_mem);
                    replaced?.Invoke();
                }
                _mem = grown;
            }
            return _mem.Pointer;
        }

        public void Dispose() => _mem?.Dispose();
    }

    internal sealed class CudaBuffer(CudaBackend owner, DeviceMemoryHandle mem, long length, DType type) : IDeviceBuffer
    {
        public CudaBackend Owner { get; } = owner;

        public long Length { get; } = length;

        public DType Type { get; } = type;

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
