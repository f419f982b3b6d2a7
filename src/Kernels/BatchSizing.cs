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
    public static int Fit(long freeBytes, Gpt2Config cfg, int t)
    {
        long usable = (long)(freeBytes * 0.9) - ReserveBytes;
        long per = BytesPerSequence(cfg, t);
        return (int)Math.Clamp(usable / Math.Max(per, 1), 1, MaxBatch);
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
    /// <paramref name="heldBytes"/> is what the failed attempt had already taken (freed when it unwinds).</summary>
    public static UserError OutOfMemory(CudaOutOfMemoryException e, Gpt2Config cfg, int t, int batch, long heldBytes)
    {
        ArgumentNullException.ThrowIfNull(e);
        int fits = e.FreeBytes < 0 ? 1 : Fit(e.FreeBytes + Math.Max(0, heldBytes), cfg, t);
        string advice = fits < batch ? $"a batch of {fits} would fit: use --batch {fits}" : "even a smaller batch may not fit; free GPU memory or use --backend cpu";
        return new UserError($"out of GPU memory at batch {batch} x {t} tokens ({e.Message}); {advice}", e);
    }
}
