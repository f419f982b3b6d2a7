using LearningCurves.Engine.Backends;
using LearningCurves.Formats;

namespace LearningCurves.Engine.Model;

/// <summary>
/// A decoder-only language model on a backend (every <see cref="Architecture"/>): it owns the device weights (uploaded
/// once, or loaded into the same buffers by <see cref="Load(ModelWeights)"/>), checks token ids, embeds, and runs the blocks
/// (<see cref="TransformerBlocks"/>). Scoring (<see cref="Score"/>, <see cref="Logits"/>) and generation
/// (<see cref="Generate"/>, with its key/value cache) are thin users of that. Scoring's activations are kept and reused
/// across calls of the same or smaller size.
/// </summary>
public sealed partial class DecoderModel : IDisposable
{
    private readonly IBackend _backend;
    private readonly DeviceWeights _w;
    private Activations? _act;
    private readonly Dictionary<(int B, int T, int M), IDeviceGraph> _graphs = new();
    /// <summary>Shapes whose ops the backend could not capture (an op that allocates: bf16 attention on heads wider
    /// than 128): run directly.</summary>
    private readonly HashSet<(int B, int T, int M)> _uncapturable = new();

    /// <param name="headRowMultiple">The head's rows are padded with zeros to a multiple of this (128: GPT-2's 50,257
    /// -> 50,304; 1024 -> 51,200), so its products run on an aligned stride; surprisals do not change.</param>
    public DecoderModel(IBackend backend, ModelWeights weights, int headRowMultiple = DefaultHeadRowMultiple)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(weights);
        _backend = backend;
        Config = weights.Config;
        _w = new DeviceWeights(backend, weights, headRowMultiple);
        Source = weights.Source;
    }

    /// <summary>A model whose weights are streamed from an open checkpoint into the device buffers tensor by tensor, in
    /// their stored precision (bf16 stays bf16): on a GPU backend the host holds the mapped shard pages and a bounded
    /// staging array, never the model in float32. The device holds the same bits as the <see cref="ModelWeights"/>
    /// path.</summary>
    public DecoderModel(IBackend backend, Checkpoints.CheckpointTensors checkpoint, int headRowMultiple = DefaultHeadRowMultiple)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(checkpoint);
        _backend = backend;
        Config = checkpoint.Config;
        _w = new DeviceWeights(backend, checkpoint, headRowMultiple);
        Source = checkpoint.Source;
    }

    /// <summary>
    /// The model of the checkpoint folder <paramref name="dir"/> on <paramref name="backend"/>. On the CPU the weights
    /// are float32 host arrays whatever is stored (<see cref="Checkpoints.HfCheckpoint.Load(string)"/>); on any other
    /// backend they are streamed from the mapped files (<see cref="Checkpoints.CheckpointTensors"/>) in their stored or
    /// the target precision. <paramref name="beforeUpload"/> sees the config and whether the head is untied once the
    /// headers are checked and before anything is allocated (a memory check that throws stops there).
    /// </summary>
    public static DecoderModel Open(IBackend backend, string dir, Action<ModelConfig, bool>? beforeUpload = null)
    {
        ArgumentNullException.ThrowIfNull(backend);
        if (backend.Name == "cpu")
        {
            var w = Checkpoints.HfCheckpoint.Load(dir);
            beforeUpload?.Invoke(w.Config, w.LmHead is not null);
            return new DecoderModel(backend, w);
        }
        using var ck = Checkpoints.CheckpointTensors.Open(dir);
        beforeUpload?.Invoke(ck.Config, ck.Untied);
        return new DecoderModel(backend, ck);
    }

    /// <summary>Device bytes of the weights of <paramref name="cfg"/> in <paramref name="p"/> (matrices and product
    /// biases in bf16 in bf16 mode, the head on its padded vocabulary), as a model would allocate them.</summary>
    public static long WeightBytes(ModelConfig cfg, bool untiedHead, Precision p, int headRowMultiple = DefaultHeadRowMultiple) =>
        DeviceWeights.Bytes(cfg, untiedHead, p, headRowMultiple);

    public ModelConfig Config { get; }

    public IBackend Backend => _backend;

    /// <summary>Where the weights now on the device came from (<see cref="ModelWeights.Source"/>).</summary>
    public string Source { get; private set; }

    /// <summary>The head's rows are padded to a multiple of this by default (GPT-2: 50,257 -> 50,304).</summary>
    public const int DefaultHeadRowMultiple = DeviceWeights.DefaultHeadRowMultiple;

    /// <summary><paramref name="v"/> rounded up to a multiple of <paramref name="multiple"/>: the device head's rows.</summary>
    public static int PaddedVocab(int v, int multiple) => DeviceWeights.PaddedVocab(v, multiple);

    /// <summary>Rows of the device head (the vocabulary padded to the row multiple).</summary>
    public int HeadRows => _w.HeadRows;

    /// <summary>
    /// Whether <see cref="Score"/> runs each (B, T, M) shape's device work as a captured graph on a backend that can
    /// (<see cref="IGraphBackend"/>: CUDA graphs): the first call of a shape runs the ops directly (which sizes the
    /// backend's scratch) and captures them; later calls write their inputs into the same buffers and replay, one
    /// launch. Results are bit-identical either way. Default true, false when the environment variable
    /// <c>LC_CUDA_GRAPHS</c> is <c>0</c>; setting it false drops the graphs held.
    /// </summary>
    public bool UseGraphs
    {
        get => _useGraphs;
        set
        {
            _useGraphs = value;
            if (!value) DropGraphs();
        }
    }

    private bool _useGraphs = Environment.GetEnvironmentVariable("LC_CUDA_GRAPHS") != "0";

    /// <summary>Graphs held (one per (B, T, M) shape scored since the activations were last sized).</summary>
    public int GraphCount => _graphs.Count;

    /// <summary>Ops in the graph of the last shape captured (0: none), what one replay launches at once.</summary>
    public int GraphNodes { get; private set; }

    private void DropGraphs()
    {
        foreach (var g in _graphs.Values) g.Dispose();
        _graphs.Clear();
        _uncapturable.Clear();
    }

    /// <summary><see cref="ScoreOnDevice"/> for the inputs already written: replayed from this shape's graph when there
    /// is a valid one, else run directly and, where graphs are used, captured for the next call.</summary>
    private void RunScore(int b, int t, int m)
    {
        var key = (b, t, m);
        if (!_useGraphs || _backend is not IGraphBackend gb || !gb.CanCapture || _uncapturable.Contains(key))
        {
            ScoreOnDevice(b, t, m);
            return;
        }
        if (_graphs.TryGetValue(key, out var g))
        {
            if (g.IsValid)
            {
                g.Replay();
                return;
            }
            g.Dispose();
            _graphs.Remove(key);
        }
        // Run once directly (this call's result; sizes the backend's scratch, makes cuBLASLt's plans), then capture.
        ScoreOnDevice(b, t, m);
        try
        {
            g = gb.Capture(() => ScoreOnDevice(b, t, m));
        }
        catch (InvalidOperationException)
        {
            // An op that allocates or transfers inside: refused before anything was recorded; this shape runs directly.
            _uncapturable.Add(key);
            return;
        }
        _graphs.Add(key, g);
        GraphNodes = g.Nodes;
    }

    /// <summary>
    /// Replaces the weights with <paramref name="weights"/> of the same shapes (architecture, sizes, head tying), written
    /// into the same device buffers: activations and anything captured over them stay valid. A sweep loads each
    /// checkpoint of a run this way. Throws <see cref="ArgumentException"/> when the shapes differ.
    /// </summary>
    public void Load(ModelWeights weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        _w.Load(weights);
        Source = weights.Source;
    }

    /// <summary>
    /// Replaces the weights with those of the open checkpoint <paramref name="checkpoint"/> of the same shapes, streamed
    /// into the same device buffers tensor by tensor in their stored precision (the same bits as <see cref="Load(ModelWeights)"/>
    /// of its float32 weights): activations and captured graphs stay valid, and the host never holds the model in
    /// float32. A sweep on a GPU backend loads each checkpoint of a run this way. Throws <see cref="ArgumentException"/>
    /// when the shapes differ.
    /// </summary>
    public void Load(Checkpoints.CheckpointTensors checkpoint)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        _w.Load(checkpoint);
        Source = checkpoint.Source;
    }

    /// <summary>Whether <paramref name="weights"/> can be <see cref="Load(ModelWeights)"/>ed into this model: an equal
    /// config and the head tied or untied alike.</summary>
    public bool Fits(ModelWeights weights) => _w.Fits(weights);

    /// <summary>Whether weights of <paramref name="cfg"/> with an untied head or not can be loaded into this model.</summary>
    public bool Fits(ModelConfig cfg, bool untiedHead) => _w.Fits(cfg, untiedHead);

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
            CheckTokens(sequences[s], $"sequence {s}");
            foreach (int p in positions[s])
            {
                if (p < 1 || p >= sequences[s].Length)
                    throw new UserError($"sequence {s}: position {p} is outside 1..{sequences[s].Length - 1}");
            }
            m += positions[s].Length;
        }
        var result = new float[m];
        if (m == 0) return result;

        var (tokens, b, t) = Tokens(sequences);
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
        var a = EnsureActivations(b * t, m);
        _backend.Write(a.Tokens, tokens);
        _backend.Write(a.Rows, rows);
        _backend.Write(a.Targets, targets);
        RunScore(b, t, m);
        _backend.Download(a.Out, result);
        return result;
    }

    /// <summary>
    /// All device work of <see cref="Score"/> between writing its inputs (Tokens (B, T), Rows (M), Targets (M)) and
    /// downloading Out (M): the embedding, every block (the last only at the M scored rows) and the head. No host
    /// transfer and no allocation once the activations exist, so one (B, T, M) shape can be captured as a CUDA graph
    /// and replayed.
    /// </summary>
    private void ScoreOnDevice(int b, int t, int m)
    {
        var a = _act!;
        Blocks(b, t, a.Rows, m);                                                                            // Norm (M, C)
        _backend.Surprisal(a.Out, a.Blocks.Norm, _w.Head, a.Targets, m, Config.Embd, Config.VocabSize, _w.HeadRows); // (M)
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
        var (tokens, b, t) = Tokens(sequences);
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
        var a = EnsureActivations(b * t, m);
        _backend.Write(a.Tokens, tokens);
        _backend.Write(a.Rows, rows.ToArray());
        Blocks(b, t, a.Rows, m);                                                     // Norm (M, C)
        using var logits = _backend.Allocate((long)m * v, DType.F32);                // (M, V)
        _backend.Logits(logits, a.Blocks.Norm, _w.Head, m, c, v);
        _backend.Download(logits, result);
        return result;
    }

    /// <summary>Checks one sequence: not empty, at most n_positions tokens, every id in the vocabulary; the messages
    /// name it as <paramref name="what"/> ("sequence 3", "prompt 0").</summary>
    private void CheckTokens(int[] tokens, string what)
    {
        if (tokens is null || tokens.Length == 0) throw new UserError($"{what} is empty");
        if (tokens.Length > Config.MaxPositions)
            throw new UserError($"{what} has {tokens.Length} tokens, more than the model's n_positions ({Config.MaxPositions})");
        for (int i = 0; i < tokens.Length; i++)
        {
            if ((uint)tokens[i] >= (uint)Config.VocabSize)
                throw new UserError($"{what}, position {i}: token id {tokens[i]} is outside the vocabulary (0..{Config.VocabSize - 1})");
        }
    }

    /// <summary>Checks ids and lengths; the tokens (B, T), sequences padded at the end to the longest.</summary>
    private (int[] Tokens, int B, int T) Tokens(IReadOnlyList<int[]> sequences)
    {
        int b = sequences.Count;
        if (b == 0) throw new UserError("no sequences to score");
        int t = 0;
        for (int s = 0; s < b; s++)
        {
            CheckTokens(sequences[s], $"sequence {s}");
            t = Math.Max(t, sequences[s].Length);
        }

        // Padding after a sequence's end never influences its real positions: attention is causal.
        var tokens = new int[b * t];
        for (int s = 0; s < b; s++) sequences[s].CopyTo(tokens, s * t);
        return (tokens, b, t);
    }

    /// <summary>
    /// residual (B, T, C) = the embedding of tokens (B, T) at positions past..past+T-1. Rotary models gather the token
    /// rows only (their positions come in the blocks); learned positions are added by Embed from position 0, or, later
    /// in a decode, by gathering the rows of <paramref name="positions"/> (written here) into <paramref name="posEmb"/>
    /// (B, T, C) and adding them (the same fp32 sum).
    /// </summary>
    private void EmbedTokens(IDeviceBuffer residual, IDeviceBuffer tokens, int b, int t, int past, IDeviceBuffer? positions = null, IDeviceBuffer? posEmb = null)
    {
        int n = b * t, c = Config.Embd;
        if (!Config.LearnedPositions)
        {
            _backend.GatherRows(residual, _w.Wte, tokens, n, c);
            return;
        }
        if (past == 0)
        {
            _backend.Embed(residual, tokens, _w.Wte, _w.Wpe!, b, t, c);
            return;
        }
        if (positions is null || posEmb is null) throw new ArgumentException("embedding past position 0 needs position buffers");
        var pos = new int[n];
        for (int i = 0; i < b; i++)
        {
            for (int j = 0; j < t; j++) pos[i * t + j] = past + j;
        }
        _backend.Write(positions, pos);
        _backend.GatherRows(residual, _w.Wte, tokens, n, c);
        _backend.GatherRows(posEmb, _w.Wpe!, positions, n, c);
        _backend.Add(residual, posEmb, (long)n * c);
    }

    /// <summary>Embeds Tokens (B, T) and runs the blocks, the last one only at the M rows in Rows: afterwards
    /// Blocks.Norm holds the final layer norm of those rows (M, C).</summary>
    private void Blocks(int b, int t, IDeviceBuffer rows, int m)
    {
        var cfg = Config;
        var a = _act!;
        int c = cfg.Embd;
        EmbedTokens(a.Blocks.Residual, a.Tokens, b, t, past: 0);                                       // (B, T, C)
        // No cache keeps the rotated keys here: the rotary goes into the attention (a kernel that loads q and k turns
        // them itself, one pass over qkv fewer per layer). Generation's prefill and decoding rotate in place, for the cache.
        bool rotates = cfg.RotaryDims > 0;
        TransformerBlocks.Run(_backend, cfg, _w, a.Blocks, b, t, past: 0,
            rotates
                ? (_, scale) => _backend.AttentionRotary(a.Blocks.Attn, a.Blocks.Qkv, b, t, cfg.Heads, cfg.KvHeadCount, cfg.HeadSize, scale, cfg.RotaryDims, cfg.Rotary)
                : cfg.IsLlamaFamily
                ? (_, scale) => _backend.Attention(a.Blocks.Attn, a.Blocks.Qkv, b, t, cfg.Heads, cfg.KvHeadCount, cfg.HeadSize, scale)
                : (_, scale) => _backend.Attention(a.Blocks.Attn, a.Blocks.Qkv, b, t, c, cfg.Heads, scale), rows, m, rotates); // Norm (M, C)
    }

    private Activations EnsureActivations(int tokens, int maxRows)
    {
        if (_act is not null && _act.Tokens.Length >= tokens && _act.Rows.Length >= maxRows) return _act;
        int n = Math.Max(tokens, _act is null ? 0 : (int)_act.Tokens.Length);
        int m = Math.Max(maxRows, _act is null ? 0 : (int)_act.Rows.Length);
        DropGraphs(); // they refer to the buffers replaced here
        _act?.Dispose();
        _act = new Activations(_backend, Config, n, m);
        return _act;
    }

    /// <summary>Every buffer <see cref="Score"/> allocates for <paramref name="n"/> tokens and <paramref name="m"/>
    /// scored rows, with its length and type (batch sizing counts these).</summary>
    public static IReadOnlyList<(string Name, long Length, DType Type)> ActivationPlan(ModelConfig cfg, Precision precision, long n, long m)
    {
        ArgumentNullException.ThrowIfNull(cfg);
        var plan = new List<(string, long, DType)>
        {
            ("Tokens", n, DType.I32),  // (B, T)
            ("Rows", m, DType.I32),    // (M)
            ("Targets", m, DType.I32), // (M)
            ("Out", m, DType.F32),     // (M)
        };
        plan.AddRange(BlockBuffers.Plan(cfg, precision, n, m));
        return plan;
    }

    /// <summary>Device bytes of <see cref="ActivationPlan"/>.</summary>
    public static long ActivationBytes(ModelConfig cfg, Precision precision, long n, long m) =>
        ActivationPlan(cfg, precision, n, m).Sum(x => x.Length * x.Type.Size());

    public void Dispose()
    {
        DropGraphs();
        _act?.Dispose();
        _w.Dispose();
    }

    private sealed class Activations : IDisposable
    {
        private readonly List<IDeviceBuffer> _all = new();

        public Activations(IBackend be, ModelConfig cfg, int n, int m)
        {
            IDeviceBuffer I(long len) { var d = be.Allocate(len, DType.I32); _all.Add(d); return d; }
            Tokens = I(n);                                   // (B, T)
            Rows = I(m);                                     // (M)
            Targets = I(m);                                  // (M)
            Out = be.Allocate(m, DType.F32);                 // (M)
            _all.Add(Out);
            Blocks = BlockBuffers.Allocate(be, cfg, n, m, _all); // (B, T, ...) and (M, ...)
        }

        public IDeviceBuffer Tokens { get; }
        public BlockBuffers Blocks { get; }
        public IDeviceBuffer Rows { get; }
        public IDeviceBuffer Targets { get; }
        public IDeviceBuffer Out { get; }

        public void Dispose()
        {
            foreach (var buf in _all) buf.Dispose();
        }
    }
}
