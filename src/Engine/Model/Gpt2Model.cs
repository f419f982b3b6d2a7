using LearningCurves.Engine.Backends;

namespace LearningCurves.Engine.Model;

/// <summary>
/// The forward pass (pre-LN GPT-2 and GPT-NeoX, through <see cref="TransformerBlocks"/>), written once against <see cref="IBackend"/>. Weights are uploaded once at
/// construction; activations are kept and reused across calls of the same or smaller size.
/// </summary>
public sealed class Gpt2Model : IDisposable
{
    private readonly IBackend _backend;
    private readonly Gpt2DeviceWeights _w;
    private Activations? _act;

    public Gpt2Model(IBackend backend, Gpt2Weights weights)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(weights);
        _backend = backend;
        Config = weights.Config;
        _w = new Gpt2DeviceWeights(backend, weights);
    }

    public Gpt2Config Config { get; }

    public IBackend Backend => _backend;

    /// <summary>
    /// Surprisal in bits of the tokens at <paramref name="positions"/>[s] (each in 1..len-1) of each sequence s, given
    /// the tokens before them; results in order, sequence by sequence. Sequences may differ in length.
    /// </summary>
    public float[] Score(IReadOnlyList<int[]> sequences, IReadOnlyList<int[]> positions)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        ArgumentNullException.ThrowIfNull(positions);
        if (sequences.Count != positions.Count)
            throw new ArgumentException($"{sequences.Count} sequences but {positions.Count} position lists");
        int m = 0;
        for (int s = 0; s < sequences.Count; s++)
        {
            if (sequences[s].Length == 0) throw new UserError($"sequence {s} is empty");
            foreach (int p in positions[s])
            {
                if (p < 1 || p >= sequences[s].Length)
                    throw new UserError($"sequence {s}: position {p} is outside 1..{sequences[s].Length - 1}");
            }
            m += positions[s].Length;
        }
        var result = new float[m];
        if (m == 0) return result;

        var (b, t) = Forward(sequences);
        var rows = new int[m];     // (M) row of the hidden state that predicts each target: position - 1
        var targets = new int[m];  // (M) the target token ids
        int k = 0;
        for (int s = 0; s < sequences.Count; s++)
        {
            foreach (int p in positions[s])
            {
                rows[k] = s * t + p - 1;
                targets[k] = sequences[s][p];
                k++;
            }
        }
        var a = _act!;
        var c = Config.Embd;
        _backend.Write(a.Rows, rows);
        _backend.Write(a.Targets, targets);
        _backend.GatherRows(a.Picked, a.Blocks.Residual, a.Rows, m, c);                   // (M, C)
        _backend.LayerNorm(a.PickedNorm, a.Picked, _w.LnFW, _w.LnFB, m, c, Config.LayerNormEpsilon); // (M, C)
        _backend.Surprisal(a.Out, a.PickedNorm, _w.Head, a.Targets, m, c, Config.VocabSize);    // (M)
        _backend.Download(a.Out, result);
        return result;
    }

    /// <summary>Surprisal of every token after the first, per sequence (positions 1..len-1).</summary>
    public float[][] ScoreAll(IReadOnlyList<int[]> sequences)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        var positions = sequences.Select(s => Enumerable.Range(1, Math.Max(0, s.Length - 1)).ToArray()).ToArray();
        var flat = Score(sequences, positions);
        var result = new float[sequences.Count][];
        int k = 0;
        for (int s = 0; s < sequences.Count; s++)
        {
            result[s] = flat.AsSpan(k, positions[s].Length).ToArray();
            k += positions[s].Length;
        }
        return result;
    }

    /// <summary>Raw logits (V each) of the next token after <paramref name="positions"/>[s] (each in 0..len-1), in order.</summary>
    public float[] Logits(IReadOnlyList<int[]> sequences, IReadOnlyList<int[]> positions)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        ArgumentNullException.ThrowIfNull(positions);
        if (sequences.Count != positions.Count)
            throw new ArgumentException($"{sequences.Count} sequences but {positions.Count} position lists");
        var (_, t) = Forward(sequences);
        var rows = new List<int>();
        for (int s = 0; s < sequences.Count; s++)
        {
            foreach (int p in positions[s])
            {
                if (p < 0 || p >= sequences[s].Length)
                    throw new UserError($"sequence {s}: position {p} is outside 0..{sequences[s].Length - 1}");
                rows.Add(s * t + p);
            }
        }
        int m = rows.Count, c = Config.Embd, v = Config.VocabSize;
        var result = new float[(long)m * v];
        if (m == 0) return result;
        var a = _act!;
        _backend.Write(a.Rows, rows.ToArray());
        _backend.GatherRows(a.Picked, a.Blocks.Residual, a.Rows, m, c);                    // (M, C)
        _backend.LayerNorm(a.PickedNorm, a.Picked, _w.LnFW, _w.LnFB, m, c, Config.LayerNormEpsilon);
        using var logits = _backend.Allocate((long)m * v);                           // (M, V)
        _backend.Logits(logits, a.PickedNorm, _w.Head, m, c, v);
        _backend.Download(logits, result);
        return result;
    }

    /// <summary>Checks ids and lengths, then runs the transformer blocks; the final residual stream is left in
    /// the activations (B, T, C), sequences padded at the end to the longest.</summary>
    private (int B, int T) Forward(IReadOnlyList<int[]> sequences)
    {
        var cfg = Config;
        int b = sequences.Count;
        if (b == 0) throw new UserError("no sequences to score");
        int t = 0;
        for (int s = 0; s < b; s++)
        {
            var seq = sequences[s];
            if (seq.Length == 0) throw new UserError($"sequence {s} is empty");
            if (seq.Length > cfg.MaxPositions)
                throw new UserError($"sequence {s} has {seq.Length} tokens, more than the model's n_positions ({cfg.MaxPositions})");
            for (int i = 0; i < seq.Length; i++)
            {
                if ((uint)seq[i] >= (uint)cfg.VocabSize)
                    throw new UserError($"sequence {s}, position {i}: token id {seq[i]} is outside the vocabulary (0..{cfg.VocabSize - 1})");
            }
            t = Math.Max(t, seq.Length);
        }

        // Padding after a sequence's end never influences its real positions: attention is causal.
        var tokens = new int[b * t];
        for (int s = 0; s < b; s++) sequences[s].CopyTo(tokens, s * t);

        int c = cfg.Embd, n = b * t;
        var a = EnsureActivations(n, b * t);
        _backend.Write(a.Tokens, tokens);
        if (cfg.LearnedPositions) _backend.Embed(a.Blocks.Residual, a.Tokens, _w.Wte, _w.Wpe!, b, t, c); // (B, T, C)
        else _backend.GatherRows(a.Blocks.Residual, _w.Wte, a.Tokens, n, c);                           // (B, T, C): rotary positions come later
        TransformerBlocks.Run(_backend, cfg, _w, a.Blocks, b, t, past: 0,
            (_, scale) => _backend.Attention(a.Blocks.Attn, a.Blocks.Qkv, b, t, c, cfg.Heads, scale)); // (B, T, C)
        return (b, t);
    }

    private Activations EnsureActivations(int tokens, int maxRows)
    {
        if (_act is not null && _act.Tokens.Length >= tokens && _act.Rows.Length >= maxRows) return _act;
        _act?.Dispose();
        _act = new Activations(_backend, Config, tokens, maxRows);
        return _act;
    }

    public void Dispose()
    {
        _act?.Dispose();
        _w.Dispose();
    }

    private sealed class Activations : IDisposable
    {
        private readonly List<IDeviceBuffer> _all = new();

        public Activations(IBackend be, Gpt2Config cfg, int n, int m)
        {
            long c = cfg.Embd;
            IDeviceBuffer A(long len) { var d = be.Allocate(len); _all.Add(d); return d; }
            IDeviceBuffer I(long len) { var d = be.AllocateInts(len); _all.Add(d); return d; }
            Tokens = I(n);                            // (B, T)
            Blocks = BlockBuffers.Allocate(be, cfg, n, _all); // (B, T, ...)
            Rows = I(m);                              // (M)
            Targets = I(m);                           // (M)
            Picked = A(m * c);                        // (M, C)
            PickedNorm = A(m * c);                    // (M, C)
            Out = A(m);                               // (M)
        }

        public IDeviceBuffer Tokens { get; }
        public BlockBuffers Blocks { get; }
        public IDeviceBuffer Rows { get; }
        public IDeviceBuffer Targets { get; }
        public IDeviceBuffer Picked { get; }
        public IDeviceBuffer PickedNorm { get; }
        public IDeviceBuffer Out { get; }

        public void Dispose()
        {
            foreach (var buf in _all) buf.Dispose();
        }
    }
}
