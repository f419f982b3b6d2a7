using LearningCurves.Engine.Backends;
using LearningCurves.Formats;

namespace LearningCurves.Engine.Model;

/// <summary>How to sample: temperature T (0 = greedy), how many tokens, the seed, and an optional stop token.</summary>
public sealed record GenerationOptions
{
    /// <summary>Sampling draws from p^(1/T) renormalized, i.e. softmax(logits / T); 0 takes the most likely token.</summary>
    public double Temperature { get; init; } = 0.3;

    /// <summary>New tokens per prompt (fewer when the model's n_positions is reached first).</summary>
    public int MaxTokens { get; init; } = 128;

    public int Seed { get; init; }

    /// <summary>Generation of a prompt ends after this token is produced (it is kept in the output); null: never.</summary>
    public int? StopToken { get; init; }

    /// <summary>Prompts of the same length are decoded together, at most this many at once.</summary>
    public int MaxBatch { get; init; } = 16;

    public void Validate()
    {
        if (!(Temperature >= 0) || !double.IsFinite(Temperature))
            throw new UserError($"temperature must be a finite number >= 0 (got {Temperature})");
        if (MaxTokens < 0) throw new UserError($"max tokens must be >= 0 (got {MaxTokens})");
        if (MaxBatch < 1) throw new UserError($"batch size must be >= 1 (got {MaxBatch})");
    }
}

/// <summary>
/// Generation, a thin user of the model: autoregressive decoding with a key/value cache over
/// <see cref="IBackend.AttentionCached"/>. The prompt is run once (prefill), then each new token costs one position's
/// forward pass, so generation is linear in its length rather than quadratic as re-scoring the whole text each step
/// would be. The forward pass is the same block runner as scoring, on the model's own device weights; only attention
/// reads the cache.
/// </summary>
public sealed partial class DecoderModel
{
    /// <summary>
    /// Generates a continuation of each prompt; returns the new tokens only, prompt by prompt. Each prompt draws from
    /// its own random stream seeded by (seed, prompt index), so the output does not depend on how prompts are batched.
    /// </summary>
    public int[][] Generate(IReadOnlyList<int[]> prompts, GenerationOptions options)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        for (int i = 0; i < prompts.Count; i++) CheckTokens(prompts[i], $"prompt {i}");
        var result = new int[prompts.Count][];
        // Prompts of equal length share positions, so they can share one cache and one batch.
        foreach (var group in Enumerable.Range(0, prompts.Count).GroupBy(i => prompts[i].Length))
        {
            foreach (var chunk in group.Chunk(options.MaxBatch))
            {
                var outputs = GenerateBatch(chunk.Select(i => prompts[i]).ToArray(), chunk, options);
                for (int k = 0; k < chunk.Length; k++) result[chunk[k]] = outputs[k];
            }
        }
        return result;
    }

    /// <summary>
    /// The next-token logits (V each) after every position from promptLength - 1 to the end of
    /// <paramref name="sequence"/>, computed the way generation does: the first promptLength tokens in one prefill,
    /// then the rest one token at a time through the cache. Row k follows position promptLength - 1 + k.
    /// </summary>
    public float[] LogitsIncremental(int[] sequence, int promptLength)
    {
        ArgumentNullException.ThrowIfNull(sequence);
        CheckTokens(sequence, "sequence");
        if (promptLength < 1 || promptLength > sequence.Length)
            throw new ArgumentOutOfRangeException(nameof(promptLength), $"must be in 1..{sequence.Length}");
        int v = Config.VocabSize, steps = sequence.Length - promptLength + 1;
        var all = new float[(long)steps * v];
        using var state = new DecodeState(this, 1, sequence.Length);
        var logits = state.Feed(sequence[..promptLength]);
        logits.CopyTo(all, 0);
        for (int k = 1; k < steps; k++)
        {
            logits = state.Feed([sequence[promptLength - 1 + k]]);
            logits.CopyTo(all, (long)k * v);
        }
        return all;
    }

    private int[][] GenerateBatch(int[][] prompts, int[] promptIndex, GenerationOptions o)
    {
        int b = prompts.Length, len = prompts[0].Length, v = Config.VocabSize;
        int steps = Math.Min(o.MaxTokens, Config.MaxPositions - len + 1);
        var outputs = new List<int>[b];
        var rngs = new Random[b];
        var done = new bool[b];
        for (int i = 0; i < b; i++)
        {
            outputs[i] = new List<int>(steps);
            rngs[i] = new Random(StreamSeed(o.Seed, promptIndex[i]));
        }
        if (steps <= 0) return outputs.Select(x => x.ToArray()).ToArray();

        // The cache holds the prompt and every token fed back; the last sampled token is never fed.
        using var state = new DecodeState(this, b, len + steps - 1);
        var feed = new int[b * len]; // (B, T)
        for (int i = 0; i < b; i++) prompts[i].CopyTo(feed, i * len);
        var logits = state.Feed(feed);
        var probs = new double[v];
        for (int s = 0; s < steps; s++)
        {
            var next = new int[b];
            for (int i = 0; i < b; i++)
            {
                next[i] = Sampling.Sample(logits.AsSpan(i * v, v), o.Temperature, rngs[i], probs);
                if (done[i]) continue;
                outputs[i].Add(next[i]);
                if (next[i] == o.StopToken) done[i] = true;
            }
            if (s == steps - 1 || done.All(d => d)) break;
            logits = state.Feed(next);
        }
        return outputs.Select(x => x.ToArray()).ToArray();
    }

    /// <summary>A 64-bit mix (splitmix64 finalizer) of the seed and the prompt index, so streams are unrelated.</summary>
    private static int StreamSeed(int seed, int index)
    {
        ulong z = ((ulong)(uint)seed << 32 | (uint)index) + 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (int)(z & int.MaxValue);
    }


    /// <summary>One batch's caches and activations; <see cref="Feed"/> appends tokens and returns the last logits.</summary>
    private sealed class DecodeState : IDisposable
    {
        private readonly DecoderModel _g;
        private readonly int _b, _maxT;
        private readonly IDeviceBuffer[] _kCache, _vCache;  // per layer (B, maxT, C)
        private readonly List<IDeviceBuffer> _all = new();
        private readonly IDeviceBuffer _tokens, _positions, _posEmb;
        private readonly BlockBuffers _a;
        private readonly IDeviceBuffer _lastRows, _logits;
        private int _past;

        public DecodeState(DecoderModel g, int b, int maxT)
        {
            _g = g;
            _b = b;
            _maxT = maxT;
            var be = g._backend;
            var cfg = g.Config;
            long c = cfg.Embd, n = (long)b * maxT;
            IDeviceBuffer A(long len, DType type = DType.F32) { var d = be.Allocate(len, type); _all.Add(d); return d; }
            IDeviceBuffer I(long len) => A(len, DType.I32);
            // The caches hold copies of qkv's keys and values: the type of the activations that feed the products.
            var act = DTypes.GemmInput(be.Precision);
            // They hold the key/value heads only (grouped-query attention: fewer than the query heads).
            long kv = cfg.IsLlamaFamily ? cfg.KvWidth : c;
            _kCache = Enumerable.Range(0, cfg.Layers).Select(_ => A(n * kv, act)).ToArray();
            _vCache = Enumerable.Range(0, cfg.Layers).Select(_ => A(n * kv, act)).ToArray();
            // Activations sized for the largest feed (the prefill of B x maxT tokens).
            _tokens = I(n);                     // (B, Tnew)
            _positions = I(n);                  // (B, Tnew)
            _posEmb = A(n * c);                 // (B, Tnew, C)
            _a = BlockBuffers.Allocate(be, cfg, n, b, _all); // (B, Tnew, ...), the last layer at B rows
            _lastRows = I(b);                   // (B)
            _logits = A((long)b * cfg.VocabSize); // (B, V)
        }

        /// <summary>Appends tokens (B, Tnew) at the current position; returns the logits (B, V) after the last one.</summary>
        public float[] Feed(int[] tokens)
        {
            var be = _g._backend;
            var cfg = _g.Config;
            int tNew = tokens.Length / _b, c = cfg.Embd, n = _b * tNew;
            if (tNew * _b != tokens.Length || tNew == 0 || _past + tNew > _maxT)
                throw new InvalidOperationException($"feed of {tokens.Length} tokens does not fit batch {_b} at {_past}/{_maxT}");
            be.Write(_tokens, tokens);
            _g.EmbedTokens(_a.Residual, _tokens, _b, tNew, _past, _positions, _posEmb);      // (B, Tnew, C)
            var lastRows = new int[_b];
            for (int i = 0; i < _b; i++) lastRows[i] = i * tNew + tNew - 1;
            be.Write(_lastRows, lastRows);
            // Every layer on all new tokens (their keys and values go to the caches); after the last layer's attention
            // only each sequence's last token goes on.
            TransformerBlocks.Run(be, cfg, _g._w, _a, _b, tNew, _past,
                cfg.IsLlamaFamily
                    ? (l, scale) => be.AttentionCached(_a.Attn, _a.Qkv, _kCache[l], _vCache[l], _b, tNew, _past, _maxT, cfg.Heads, cfg.KvHeadCount, cfg.HeadSize, scale)
                    : (l, scale) => be.AttentionCached(_a.Attn, _a.Qkv, _kCache[l], _vCache[l], _b, tNew, _past, _maxT, c, cfg.Heads, scale),
                _lastRows, _b);                                                                    // Norm (B, C)
            _past += tNew;
            be.Logits(_logits, _a.Norm, _g._w.Head, _b, c, cfg.VocabSize);                        // (B, V)
            var result = new float[(long)_b * cfg.VocabSize];
            be.Download(_logits, result);
            return result;
        }

        public void Dispose()
        {
            foreach (var d in _all) d.Dispose();
        }
    }
}

/// <summary>Choosing the next token from logits.</summary>
public static class Sampling
{
    /// <summary>
    /// Temperature 0: the arg max (lowest id on ties). Otherwise a draw from p^(1/T) renormalized, computed as
    /// softmax(logits / T) in double with the max subtracted (the same distribution, without overflow).
    /// <paramref name="scratch"/> must hold at least logits.Length doubles.
    /// </summary>
    public static int Sample(ReadOnlySpan<float> logits, double temperature, Random rng, Span<double> scratch)
    {
        ArgumentNullException.ThrowIfNull(rng);
        if (logits.Length == 0) throw new ArgumentException("no logits", nameof(logits));
        if (scratch.Length < logits.Length) throw new ArgumentException("scratch too small", nameof(scratch));
        int arg = 0;
        float max = logits[0];
        for (int i = 1; i < logits.Length; i++)
        {
            if (logits[i] > max)
            {
                max = logits[i];
                arg = i;
            }
        }
        if (temperature == 0) return arg;
        double inv = 1.0 / temperature, sum = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            double e = Math.Exp((logits[i] - max) * inv);
            scratch[i] = e;
            sum += e;
        }
        double u = rng.NextDouble() * sum, acc = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            acc += scratch[i];
            if (u < acc) return i;
        }
        return arg; // u fell past the last bucket through rounding: the mode is as good as any token there
    }

    /// <summary>The distribution softmax(logits / T) (T &gt; 0), for tests and reports.</summary>
    public static double[] Distribution(ReadOnlySpan<float> logits, double temperature)
    {
        if (!(temperature > 0)) throw new ArgumentOutOfRangeException(nameof(temperature), "must be > 0");
        float max = float.NegativeInfinity;
        foreach (float z in logits) max = Math.Max(max, z);
        var p = new double[logits.Length];
        double sum = 0;
        for (int i = 0; i < p.Length; i++)
        {
            p[i] = Math.Exp((logits[i] - max) / temperature);
            sum += p[i];
        }
        for (int i = 0; i < p.Length; i++) p[i] /= sum;
        return p;
    }
}
