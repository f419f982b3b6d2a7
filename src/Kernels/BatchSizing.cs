using LearningCurves.Engine;
using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Model;
using LearningCurves.Kernels.Native;
using LearningCurves.Formats;

namespace LearningCurves.Kernels;

/// <summary>
/// How many sequences of T tokens fit in a device's free memory: the forward pass's activations, counted from the
/// model's own buffer plan (<see cref="DecoderModel.ActivationPlan"/>, with each buffer's type), plus the CUDA backend's
/// scratch (the bf16 epilogues' fp32 product, the cuBLAS attention path's per-head buffers). The head's logits scratch is
/// a fixed budget, kept aside.
/// </summary>
public static class BatchSizing
{
    /// <summary>Held back from the free memory: the head's logits chunk, cuBLAS workspaces, fragmentation.</summary>
    public const long ReserveBytes = 768L << 20;

    public const int MaxBatch = 4096;

    /// <summary>Device bytes one sequence of <paramref name="t"/> tokens needs in <paramref name="precision"/> (every
    /// token scored: the most rows a batch can select).</summary>
    public static long BytesPerSequence(ModelConfig cfg, int t, Precision precision = Precision.Fp32)
    {
        ArgumentNullException.ThrowIfNull(cfg);
        long c = cfg.Embd, inner = cfg.InnerSize, nh = cfg.Heads;
        long activations = DecoderModel.ActivationBytes(cfg, precision, t, t);
        long scratchPerToken =
            4 * 4 * c                                    // q, k, v, y per head (cuBLAS attention path)
            + 4 * nh * t;                                // attention scores (B,NH,T,T)
        if (precision == Precision.Bf16)
        {
            scratchPerToken += 4 * Math.Max(3 * c, inner) // fp32 product before a bf16 epilogue (cublasGemmEx fallback)
                + 4 * 4 * c;                              // the bf16 attention stand-in's fp32 qkv and output (until the attn branch)
        }
        return activations + scratchPerToken * t;
    }

    /// <summary>The largest batch that fits in <paramref name="freeBytes"/> (at least 1, at most <see cref="MaxBatch"/>).</summary>
    public static int Fit(long freeBytes, ModelConfig cfg, int t, Precision precision = Precision.Fp32) => Math.Max(1, FitOrZero(freeBytes, cfg, t, precision));

    /// <summary>As <see cref="Fit"/>, but 0 when not even one sequence fits.</summary>
    public static int FitOrZero(long freeBytes, ModelConfig cfg, int t, Precision precision = Precision.Fp32)
    {
        long usable = (long)(freeBytes * 0.9) - ReserveBytes;
        long per = BytesPerSequence(cfg, t, precision);
        return (int)Math.Clamp(usable / Math.Max(per, 1), 0, MaxBatch);
    }

    /// <summary>
    /// Device bytes a model holds besides its batch's activations and the backend's scratch, the whole time it scores:
    /// its weights, once. A sweep on a GPU backend keeps one model and streams each next checkpoint into its device
    /// buffers (its read-ahead holds mapped host pages, never device memory), a model of another config is allocated
    /// only after the previous one is freed, and graphs and the head's logits chunk are small or inside
    /// <see cref="ReserveBytes"/>: one model's weights are all that is resident at peak.
    /// </summary>
    public static long ResidentBytes(ModelConfig cfg, Precision p, bool untiedHead) => WeightBytes(cfg, p, untiedHead);

    /// <summary>As <see cref="FitOrZero"/>, for free memory read before the model is uploaded: the model's
    /// <see cref="ResidentBytes"/> are held back first.</summary>
    public static int FitOrZeroBeforeUpload(long freeBytes, ModelConfig cfg, bool untiedHead, int t, Precision p) =>
        FitOrZero(freeBytes - ResidentBytes(cfg, p, untiedHead), cfg, t, p);

    /// <summary>The batch for a model not yet on the device (a sweep sizes its batch before its first checkpoint is
    /// uploaded): what fits the backend's free memory now, less the model's <see cref="ResidentBytes"/>, at least 1
    /// (a backend that does not know its memory, the CPU, gets <paramref name="cpuDefault"/>).</summary>
    public static int ChooseBeforeUpload(IBackend backend, ModelConfig cfg, bool untiedHead, int t, int cpuDefault = 16)
    {
        ArgumentNullException.ThrowIfNull(backend);
        return backend.FreeMemoryBytes is long free ? Math.Max(1, FitOrZeroBeforeUpload(free, cfg, untiedHead, t, backend.Precision)) : cpuDefault;
    }

    /// <summary>The batch to run: <paramref name="requested"/> when given, else what fits the backend's free memory
    /// in its precision (a backend that does not know its memory, the CPU, gets <paramref name="cpuDefault"/>); for a
    /// model already on the device (its weights are no longer free).</summary>
    public static int Choose(IBackend backend, ModelConfig cfg, int t, int? requested, int cpuDefault = 16)
    {
        ArgumentNullException.ThrowIfNull(backend);
        if (requested is int r)
        {
            if (r < 1) throw new UserError($"--batch must be at least 1 (got {r})");
            return r;
        }
        return backend.FreeMemoryBytes is long free ? Fit(free, cfg, t, backend.Precision) : cpuDefault;
    }

    /// <summary>An out-of-memory error turned into one line naming a batch size that would fit.
    /// <paramref name="availableBytes"/> is the device memory the activations can have (free memory with the model's
    /// weights loaded but no batch); negative when unknown, then the error's own free figure is used.</summary>
    public static UserError OutOfMemory(CudaOutOfMemoryException e, ModelConfig cfg, int t, int batch, long availableBytes,
        Precision precision = Precision.Fp32)
    {
        ArgumentNullException.ThrowIfNull(e);
        long avail = availableBytes >= 0 ? availableBytes : e.FreeBytes;
        int fits = avail < 0 ? 0 : FitOrZero(avail, cfg, t, precision);
        string advice = fits == 0 || fits >= batch
            ? "even a smaller batch may not fit; free GPU memory or use --backend cpu"
            : $"a batch of {fits} would fit: use --batch {fits}";
        return new UserError($"out of GPU memory at batch {batch} x {t} tokens ({e.Message}); {advice}", e);
    }

    /// <summary>Device bytes of a model's weights in a precision mode (matrices in bf16 for bf16), as the model
    /// allocates them (<see cref="DecoderModel.WeightBytes"/>: every architecture's own tensors, fused and padded).</summary>
    public static long WeightBytes(ModelConfig cfg, Precision p, bool untiedHead)
    {
        ArgumentNullException.ThrowIfNull(cfg);
        return DecoderModel.WeightBytes(cfg, untiedHead, p);
    }

    /// <summary>
    /// Before anything is uploaded: whether the weights of <paramref name="cfg"/> in <paramref name="backend"/>'s
    /// precision and one sequence of <paramref name="t"/> tokens fit the device's free memory (a backend that does not
    /// know its memory, the CPU, always fits). When they do not, one <see cref="UserError"/> naming
    /// <paramref name="source"/>, what is needed and free, and what would fit: bf16 when the weights would fit in it,
    /// else the CPU.
    /// </summary>
    public static void CheckFits(IBackend backend, ModelConfig cfg, bool untiedHead, int t, string source)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(cfg);
        if (backend.FreeMemoryBytes is not long free) return;
        var p = backend.Precision;
        if (Fits(free, cfg, untiedHead, t, p)) return;
        long weights = WeightBytes(cfg, p, untiedHead);
        string advice = p != Precision.Bf16 && Fits(free, cfg, untiedHead, t, Precision.Bf16)
            ? $"in bf16 they need {Gib(WeightBytes(cfg, Precision.Bf16, untiedHead))}: use --precision bf16"
            : "no precision fits this card: free GPU memory, use a card with more memory, or --backend cpu";
        throw UserError.InFile(source,
            $"does not fit the GPU: the weights need {Gib(weights)} in {p.ToString().ToLowerInvariant()} and a sequence of {t} tokens {Gib(BytesPerSequence(cfg, t, p))} more, but {Gib(free)} are free; {advice}");
    }

    /// <summary>Whether weights plus one sequence fit in <paramref name="free"/> bytes (with the reserve held back).</summary>
    public static bool Fits(long free, ModelConfig cfg, bool untiedHead, int t, Precision p) =>
        FitOrZeroBeforeUpload(free, cfg, untiedHead, t, p) >= 1;

    private static string Gib(long bytes) => bytes >= 1L << 30 ? $"{bytes / (double)(1L << 30):F2} GiB" : $"{bytes / (double)(1L << 20):F2} MiB";
}
