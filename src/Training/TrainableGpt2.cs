using LearningCurves.Engine.Model;

namespace LearningCurves.Training;

/// <summary>
/// A GPT-2 (pre-LN, tied head, tanh GELU) whose parameters and gradients are flat float32 vectors laid out by
/// <see cref="ParameterLayout"/>. <see cref="ForwardBackward"/> computes the mean next-token cross-entropy of a batch
/// and its gradient; the optimizer lives in <see cref="AdamW"/>.
/// </summary>
public sealed class TrainableGpt2
{
    private Activations? _act;

    /// <param name="config">The model; its vocabulary is the trained (possibly compacted) one.</param>
    /// <param name="parameters">Flat parameters in <see cref="ParameterLayout"/> order; used in place.</param>
    /// <param name="zeroLogits">How many further vocabulary entries have all-zero, frozen embedding rows: their logit
    /// is exactly 0 for every input, so they enter the softmax as a constant without any matrix work.</param>
    public TrainableGpt2(ModelConfig config, float[] parameters, int zeroLogits = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(zeroLogits);
        ZeroLogits = zeroLogits;
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(parameters);
        if (config.ScaleAttnByInverseLayerIdx) throw new ArgumentException("the trainer does not support scale_attn_by_inverse_layer_idx");
        if (!config.TieWordEmbeddings) throw new ArgumentException("the trainer ties the head to wte");
        Layout = new ParameterLayout(config);
        if (parameters.LongLength != Layout.Count)
            throw new ArgumentException($"{parameters.LongLength} parameters, the config needs {Layout.Count}");
        if (Layout.Count > int.MaxValue) throw new ArgumentException("model too large for the CPU trainer");
        Parameters = parameters;
        Gradients = new float[parameters.Length];
    }

    /// <summary>A freshly initialised model: GPT-2 initialisation from <see cref="ModelWeights.Random"/> with this seed.</summary>
    public static TrainableGpt2 Initialize(ModelConfig config, int seed, int zeroLogits = 0)
    {
        ArgumentNullException.ThrowIfNull(config);
        var layout = new ParameterLayout(config);
        return new TrainableGpt2(config, layout.Flatten(ModelWeights.Random(config, seed)), zeroLogits);
    }

    /// <summary>Vocabulary entries outside the matrix whose logit is always 0 (see the constructor).</summary>
    public int ZeroLogits { get; }

    public ModelConfig Config => Layout.Config;

    public ParameterLayout Layout { get; }

    /// <summary>(P) the parameters, updated in place by the optimizer.</summary>
    public float[] Parameters { get; }

    /// <summary>(P) the gradient of the last <see cref="ForwardBackward"/>.</summary>
    public float[] Gradients { get; }

    /// <summary>The parameters as engine weights (copies), e.g. to save a checkpoint.</summary>
    public ModelWeights ToWeights(string source = "") => Layout.Unflatten(Parameters, source);

    /// <summary>Mean cross-entropy in nats of targets (B*T) given inputs (B*T), without gradients.</summary>
    public double Loss(int[] inputs, int[] targets, int b, int t) => Run(inputs, targets, b, t, backward: false);

    /// <summary>Mean cross-entropy in nats; leaves its gradient in <see cref="Gradients"/> (overwritten, not summed).</summary>
    public double ForwardBackward(int[] inputs, int[] targets, int b, int t) => Run(inputs, targets, b, t, backward: true);

    private double Run(int[] inputs, int[] targets, int b, int t, bool backward)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(targets);
        var cfg = Config;
        if (b <= 0 || t <= 0) throw new ArgumentOutOfRangeException(nameof(b), "batch and length must be positive");
        if (t > cfg.MaxPositions) throw new ArgumentOutOfRangeException(nameof(t), $"length {t} exceeds n_positions {cfg.MaxPositions}");
        int n = b * t;
        if (inputs.Length < n || targets.Length < n) throw new ArgumentException($"need {n} inputs and targets");
        for (int i = 0; i < n; i++)
        {
            if ((uint)targets[i] >= (uint)cfg.VocabSize) throw new ArgumentOutOfRangeException(nameof(targets), $"target {targets[i]} outside the vocabulary");
        }

        int c = cfg.Embd, inner = cfg.InnerSize, v = cfg.VocabSize, nh = cfg.Heads;
        float eps = cfg.LayerNormEpsilon;
        float scale = cfg.ScaleAttnWeights ? 1f / MathF.Sqrt(cfg.HeadSize) : 1f;
        var a = EnsureActivations(b, t);
        var p = Parameters;
        var lay = Layout;

        // Forward, keeping every layer's inputs, norms and attention probabilities.
        TrainOps.Embed(a.Resid[0], inputs, p, (int)lay.Wte.Offset, (int)lay.Wpe.Offset, b, t, c, v, cfg.MaxPositions);
        for (int l = 0; l < cfg.Layers; l++)
        {
            var w = lay.Blocks[l];
            var s = a.Layers[l];
            var x = a.Resid[l];
            TrainOps.LayerNorm(s.Ln1, s.Ln1Mean, s.Ln1Rstd, x, p, Off(w.Ln1W), Off(w.Ln1B), n, c, eps);
            TrainOps.MatMul(s.Qkv, s.Ln1, p, Off(w.AttnW), Off(w.AttnB), n, c, 3 * c);
            TrainOps.Attention(s.AttY, s.Att, s.Qkv, b, t, c, nh, scale);
            TrainOps.MatMul(s.Mid, s.AttY, p, Off(w.AttnProjW), Off(w.AttnProjB), n, c, c);
            AddInPlace(s.Mid, x, n * c);                                          // Mid = x + attn(x)
            TrainOps.LayerNorm(s.Ln2, s.Ln2Mean, s.Ln2Rstd, s.Mid, p, Off(w.Ln2W), Off(w.Ln2B), n, c, eps);
            TrainOps.MatMul(s.FcPre, s.Ln2, p, Off(w.FcW), Off(w.FcB), n, c, inner);
            TrainOps.Gelu(s.FcAct, s.FcPre, n * inner);
            var next = a.Resid[l + 1];
            TrainOps.MatMul(next, s.FcAct, p, Off(w.FcProjW), Off(w.FcProjB), n, inner, c);
            AddInPlace(next, s.Mid, n * c);                                       // next = Mid + mlp(Mid)
        }
        var top = a.Resid[cfg.Layers];
        TrainOps.LayerNorm(a.LnF, a.LnFMean, a.LnFRstd, top, p, Off(lay.LnFW), Off(lay.LnFB), n, c, eps);
        // logits (N, V) = lnf (N, C) @ wte (V, C)^T: the tied head.
        LearningCurves.Engine.Backends.Blas.Sgemm(false, true, n, v, c, 1f, a.LnF.AsSpan(0, n * c),
            p.AsSpan(Off(lay.Wte), v * c), 0f, a.Logits.AsSpan(0, n * v));
        double total = TrainOps.SoftmaxCrossEntropy(a.Logits, targets, n, v, 1f / n, ZeroLogits);
        double loss = total / n;
        if (!backward) return loss;

        // Backward. Logits now hold dloss/dlogits.
        var g = Gradients;
        Array.Clear(g);
        var dres = a.DResid;     // (N, C) gradient flowing along the residual stream
        var dtmp = a.DTmp;       // (N, C) scratch
        LearningCurves.Engine.Backends.Blas.Sgemm(true, false, v, c, n, 1f, a.Logits.AsSpan(0, n * v), a.LnF.AsSpan(0, n * c),
            1f, g.AsSpan(Off(lay.Wte), v * c));                                 // dwte += dlogits^T @ lnf
        LearningCurves.Engine.Backends.Blas.Sgemm(false, false, n, c, v, 1f, a.Logits.AsSpan(0, n * v),
            p.AsSpan(Off(lay.Wte), v * c), 0f, dtmp.AsSpan(0, n * c));           // dlnf = dlogits @ wte
        Array.Clear(dres, 0, n * c);
        TrainOps.LayerNormBackward(dres, g, dtmp, top, a.LnFMean, a.LnFRstd, p, Off(lay.LnFW), Off(lay.LnFB), n, c);
        for (int l = cfg.Layers - 1; l >= 0; l--)
        {
            var w = lay.Blocks[l];
            var s = a.Layers[l];
            var x = a.Resid[l];
            // MLP branch: next = Mid + proj(gelu(fc(ln2(Mid)))); dres is dnext and becomes dMid.
            Array.Clear(a.DInner, 0, n * inner);
            TrainOps.MatMulBackward(a.DInner, g, dres, s.FcAct, p, Off(w.FcProjW), Off(w.FcProjB), n, inner, c);
            Array.Clear(a.DInner2, 0, n * inner);
            TrainOps.GeluBackward(a.DInner2, a.DInner, s.FcPre, n * inner);
            Array.Clear(dtmp, 0, n * c);
            TrainOps.MatMulBackward(dtmp, g, a.DInner2, s.Ln2, p, Off(w.FcW), Off(w.FcB), n, c, inner);
            TrainOps.LayerNormBackward(dres, g, dtmp, s.Mid, s.Ln2Mean, s.Ln2Rstd, p, Off(w.Ln2W), Off(w.Ln2B), n, c);
            // Attention branch: Mid = x + proj(attn(ln1(x))); dres becomes dx.
            Array.Clear(dtmp, 0, n * c);
            TrainOps.MatMulBackward(dtmp, g, dres, s.AttY, p, Off(w.AttnProjW), Off(w.AttnProjB), n, c, c);
            Array.Clear(a.DQkv, 0, n * 3 * c);
            TrainOps.AttentionBackward(a.DQkv, dtmp, s.Att, s.Qkv, b, t, c, nh, scale);
            Array.Clear(dtmp, 0, n * c);
            TrainOps.MatMulBackward(dtmp, g, a.DQkv, s.Ln1, p, Off(w.AttnW), Off(w.AttnB), n, c, 3 * c);
            TrainOps.LayerNormBackward(dres, g, dtmp, x, s.Ln1Mean, s.Ln1Rstd, p, Off(w.Ln1W), Off(w.Ln1B), n, c);
        }
        TrainOps.EmbedBackward(g, dres, inputs, Off(lay.Wte), Off(lay.Wpe), b, t, c);
        return loss;
    }

    private static int Off(ParameterTensor t) => (int)t.Offset;

    private static void AddInPlace(float[] x, float[] y, int count) =>
        System.Numerics.Tensors.TensorPrimitives.Add(x.AsSpan(0, count), y.AsSpan(0, count), x.AsSpan(0, count));

    private Activations EnsureActivations(int b, int t)
    {
        if (_act is not null && _act.B == b && _act.T == t) return _act;
        _act = new Activations(Config, b, t);
        return _act;
    }

    /// <summary>Everything the backward pass reads, for one (B, T).</summary>
    private sealed class Activations
    {
        public Activations(ModelConfig cfg, int b, int t)
        {
            B = b;
            T = t;
            int n = b * t, c = cfg.Embd, inner = cfg.InnerSize;
            Resid = new float[cfg.Layers + 1][];
            for (int l = 0; l <= cfg.Layers; l++) Resid[l] = new float[n * c]; // (N, C) input of block l; last = output
            Layers = new LayerActs[cfg.Layers];
            for (int l = 0; l < cfg.Layers; l++) Layers[l] = new LayerActs(n, b, t, c, inner, cfg.Heads);
            LnF = new float[n * c];                    // (N, C)
            LnFMean = new float[n];                    // (N)
            LnFRstd = new float[n];                    // (N)
            Logits = new float[(long)n * cfg.VocabSize]; // (N, V)
            DResid = new float[n * c];                 // (N, C)
            DTmp = new float[n * c];                   // (N, C)
            DQkv = new float[n * 3 * c];               // (N, 3C)
            DInner = new float[n * inner];             // (N, I)
            DInner2 = new float[n * inner];            // (N, I)
        }

        public int B { get; }
        public int T { get; }
        public float[][] Resid { get; }
        public LayerActs[] Layers { get; }
        public float[] LnF { get; }
        public float[] LnFMean { get; }
        public float[] LnFRstd { get; }
        public float[] Logits { get; }
        public float[] DResid { get; }
        public float[] DTmp { get; }
        public float[] DQkv { get; }
        public float[] DInner { get; }
        public float[] DInner2 { get; }
    }

    private sealed class LayerActs
    {
        public LayerActs(int n, int b, int t, int c, int inner, int nh)
        {
            Ln1 = new float[n * c];            // (N, C)
            Ln1Mean = new float[n];            // (N)
            Ln1Rstd = new float[n];            // (N)
            Qkv = new float[n * 3 * c];        // (N, 3C)
            Att = new float[b * nh * t * t];   // (B, NH, T, T)
            AttY = new float[n * c];           // (N, C)
            Mid = new float[n * c];            // (N, C) residual after attention
            Ln2 = new float[n * c];            // (N, C)
            Ln2Mean = new float[n];            // (N)
            Ln2Rstd = new float[n];            // (N)
            FcPre = new float[n * inner];      // (N, I) before GELU
            FcAct = new float[n * inner];      // (N, I) after GELU
        }

        public float[] Ln1 { get; }
        public float[] Ln1Mean { get; }
        public float[] Ln1Rstd { get; }
        public float[] Qkv { get; }
        public float[] Att { get; }
        public float[] AttY { get; }
        public float[] Mid { get; }
        public float[] Ln2 { get; }
        public float[] Ln2Mean { get; }
        public float[] Ln2Rstd { get; }
        public float[] FcPre { get; }
        public float[] FcAct { get; }
    }
}
