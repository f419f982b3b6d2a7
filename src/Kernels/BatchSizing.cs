using LearningCurves.Engine;
using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Model;
using LearningCurves.Kernels.Native;

namespace LearningCurves.Kernels;

/// <summary>
/// How many sequences of T tokens fit in a device's free memory: the forward pass's activations (Gpt2Model) plus the
/// CUDA backend's scratch (bf16 copies, the cuBLAS attention path's per-head buffers). The head's logits scratch is a
/// fixed budget, kept aside.
/// </summary>
public static class BatchSizing
{
    /// <summary>Held back from the free memory: the head's logits chunk, cuBLAS workspaces, fragmentation.</summary>
    public const long ReserveBytes = 768L << 20;

    public const int MaxBatch = 4096;

    /// <summary>Device bytes one sequence of <paramref name="t"/> tokens needs.</summary>
    public static long BytesPerSequence(Gpt2Config cfg, int t)
    {
        ArgumentNullException.ThrowIfNull(cfg);
        long c = cfg.Embd, inner = cfg.InnerSize, nh = cfg.Heads;
        long perToken =
            4                                  // token id
            + 4 * (c * 4 + 3 * c + inner)      // residual, norm, attn, proj (B,T,C); qkv (B,T,3C); fc (B,T,I)
            + 2 * Math.Max(inner, c)           // bf16 copy of the widest GEMM input
            + 4 * 4 * c                        // q, k, v, y per head (cuBLAS attention path)
            + 4 * nh * t                       // attention scores (B,NH,T,T)
            + 4 * (2 + 2 * c + 1);             // rows, targets, picked, picked-norm, out (at most one row per token)
        return perToken * t;
    }

    /// <summary>The largest batch that fits in <paramref name="freeBytes"/> (at least 1, at most <see cref="MaxBatch"/>).</summary>
    public static int Fit(long freeBytes, Gpt2Config cfg, int t) => Math.Max(1, FitOrZero(freeBytes, cfg, t));

    /// <summary>As <see cref="Fit"/>, but 0 when not even one sequence fits.</summary>
    public static int FitOrZero(long freeBytes, Gpt2Config cfg, int t)
    {
        long usable = (long)(freeBytes * 0.9) - ReserveBytes;
        long per = BytesPerSequence(cfg, t);
        return (int)Math.Clamp(usable / Math.Max(per, 1), 0, MaxBatch);
    }

    /// <summary>The batch to run: <paramref name="requested"/> when given, else what fits the backend's free memory
    /// (a backend that does not know its memory, the CPU, gets <paramref name="cpuDefault"/>).</summary>
    public static int Choose(IBackend backend, Gpt2Config cfg, int t, int? requested, int cpuDefault = 16)
    {
        ArgumentNullException.ThrowIfNull(backend);
        if (requested is int r)
        {
            if (r < 1) throw new UserError($"--batch must be at least 1 (got {r})");
            return r;
        }
        return backend.FreeMemoryBytes is long free ? Fit(free, cfg, t) : cpuDefault;
    }

    /// <summary>An out-of-memory error turned into one line naming a batch size that would fit.
    /// <paramref name="availableBytes"/> is the device memory the activations can have (free memory with the model's
    /// weights loaded but no batch); negative when unknown, then the error's own free figure is used.</summary>
    public static UserError OutOfMemory(CudaOutOfMemoryException e, Gpt2Config cfg, int t, int batch, long availableBytes)
    {
        ArgumentNullException.ThrowIfNull(e);
        long avail = availableBytes >= 0 ? availableBytes : e.FreeBytes;
        int fits = avail < 0 ? 0 : FitOrZero(avail, cfg, t);
        string advice = fits == 0 || fits >= batch
            ? "even a smaller batch may not fit; free GPU memory or use --backend cpu"
            : $"a batch of {fits} would fit: use --batch {fits}";
        return new UserError($"out of GPU memory at batch {batch} x {t} tokens ({e.Message}); {advice}", e);
    }

    /// <summary>Device bytes of a model's weights in a precision mode (matrices in bf16 for bf16).</summary>
    public static long WeightBytes(Gpt2Config cfg, Precision p, bool untiedHead)
    {
        ArgumentNullException.ThrowIfNull(cfg);
        long all = cfg.ParameterCount(untiedHead);
        if (p != Precision.Bf16) return all * 4;
        long c = cfg.Embd, inner = cfg.InnerSize, head = (long)cfg.VocabSize * c;
        long blockMatrices = cfg.Layers * (c * 3 * c + c * c + 2 * c * inner);
        // bf16: block matrices and the head in bf16 (a separate bf16 copy when the head is tied to the fp32 wte).
        long fp32 = all - blockMatrices - (untiedHead ? head : 0);
        return fp32 * 4 + (blockMatrices + head) * 2;
    }
}
