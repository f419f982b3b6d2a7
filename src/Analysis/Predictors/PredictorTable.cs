using LearningCurves.Analysis.NGrams;
using LearningCurves.Analysis.Statistics;

namespace LearningCurves.Analysis.Predictors;

/// <summary>One example: the token at <see cref="Position"/> (0-based, at least 1) of evaluation sequence <see cref="Sequence"/>; its context is the tokens before it.</summary>
public readonly record struct Example(int Sequence, int Position);

/// <summary>Settings of the predictors.</summary>
/// <param name="NGrams">How to count n-grams (default: order 5, no pruning).</param>
/// <param name="TopTypes">Contextual diversity counts distinct tokens among this many most frequent ones.</param>
/// <param name="Window">... seen in this many tokens before each occurrence.</param>
/// <param name="ClipSd">Continuous predictors are clipped to mean +- this many standard deviations (0 = no clipping).</param>
public sealed record PredictorOptions(NGramOptions? NGrams = null, int TopTypes = 10_000, int Window = 30, double ClipSd = 5);

/// <summary>What the predictors need from the training corpus: n-gram counts and contextual diversity per type.</summary>
public sealed class CorpusStatistics
{
    public CorpusStatistics(NGramModel nGrams, ContextualDiversity diversity)
    {
        NGrams = nGrams ?? throw new ArgumentNullException(nameof(nGrams));
        Diversity = diversity ?? throw new ArgumentNullException(nameof(diversity));
    }

    public NGramModel NGrams { get; }

    public ContextualDiversity Diversity { get; }

    /// <summary>
    /// Two passes over the training sequences (<paramref name="sequences"/> is called twice): n-gram counting, then
    /// contextual diversity (which needs the unigram ranks). Token ids must be in [0, vocabSize); an id outside throws
    /// <see cref="ArgumentOutOfRangeException"/> (callers reading a file turn that into a UserError naming it).
    /// </summary>
    public static CorpusStatistics Build(Func<IEnumerable<ReadOnlyMemory<int>>> sequences, int vocabSize, PredictorOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        options ??= new PredictorOptions();
        var counter = new NGramCounter(vocabSize, options.NGrams);
        foreach (var s in sequences()) counter.Add(s.Span);
        var model = counter.Build();
        var unigrams = new long[vocabSize];
        for (int t = 0; t < vocabSize; t++) unigrams[t] = model.UnigramCount(t);
        var diversity = ContextualDiversity.Count(sequences(), unigrams, options.TopTypes, options.Window);
        return new CorpusStatistics(model, diversity);
    }
}

/// <summary>
/// The per-example predictor table (section 1 of the analysis issue), column by column in <see cref="Names"/> order:
/// <list type="bullet">
/// <item><c>unigram</c>: log2 unigram probability of the target (an unseen token gets the rarest seen token's value);</item>
/// <item><c>ngram</c>: the 5-gram log2 probability (with backoff) residualized on <c>unigram</c> by OLS;</item>
/// <item><c>context_loglen</c>: log2 of the target's position (= number of context tokens);</item>
/// <item><c>context_logprob</c>: mean log2 unigram probability of the context tokens;</item>
/// <item><c>contextual_div</c>: the target type's frequency-adjusted contextual diversity.</item>
/// </list>
/// Each column is clipped to mean +- <see cref="PredictorOptions.ClipSd"/> SD (sample SD); <c>unigram</c> is clipped
/// before <c>ngram</c> is residualized on it, and the residual is clipped in turn. The table is open: more columns
/// (part-of-speech indicators, once a tagger is available) can be added with <see cref="Add"/>. Also carries the
/// n-gram surprisals with backoff for n = 1..5 per example, which the learning-phase analysis uses.
/// </summary>
public sealed class PredictorTable
{
    public const string Unigram = "unigram";
    public const string NGram = "ngram";
    public const string ContextLogLength = "context_loglen";
    public const string ContextLogProb = "context_logprob";
    public const string ContextualDiv = "contextual_div";

    /// <summary>The paper's predictors in its sequential-regression order.</summary>
    public static IReadOnlyList<string> Names { get; } = [Unigram, NGram, ContextLogLength, ContextLogProb, ContextualDiv];

    private readonly List<KeyValuePair<string, double[]>> _columns = new();

    private PredictorTable(int count, double[][] ngramSurprisal)
    {
        Count = count;
        NGramSurprisal = ngramSurprisal;
    }

    /// <summary>Examples (rows).</summary>
    public int Count { get; }

    /// <summary>Column names in order.</summary>
    public IReadOnlyList<string> Columns => _columns.Select(c => c.Key).ToArray();

    public double[] this[string name] => _columns.First(c => c.Key == name).Value;

    /// <summary>[n - 1][example]: surprisal in bits under the n-gram model with backoff, n = 1..MaxOrder.</summary>
    public double[][] NGramSurprisal { get; }

    /// <summary>The columns as a name -> values map (e.g. for <see cref="RegressionAnalysis.Run"/>).</summary>
    public IReadOnlyDictionary<string, double[]> ToDictionary() => _columns.ToDictionary(c => c.Key, c => c.Value, StringComparer.Ordinal);

    /// <summary>Adds a column (one value per example), e.g. a part-of-speech indicator.</summary>
    public void Add(string name, double[] values)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(values);
        if (values.Length != Count) throw new ArgumentException($"column '{name}' has {values.Length} values for {Count} examples", nameof(values));
        if (_columns.Any(c => c.Key == name)) throw new ArgumentException($"column '{name}' exists", nameof(name));
        _columns.Add(KeyValuePair.Create(name, values));
    }

    /// <summary>Computes every predictor for the examples (parallel over examples).</summary>
    public static PredictorTable Compute(CorpusStatistics corpus, IReadOnlyList<ReadOnlyMemory<int>> sequences, IReadOnlyList<Example> examples, PredictorOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        ArgumentNullException.ThrowIfNull(sequences);
        ArgumentNullException.ThrowIfNull(examples);
        options ??= new PredictorOptions();
        var model = corpus.NGrams;
        int n = examples.Count;
        foreach (var e in examples)
        {
            if ((uint)e.Sequence >= (uint)sequences.Count) throw new ArgumentOutOfRangeException(nameof(examples), e.Sequence, "example names a sequence that does not exist");
            if (e.Position < 1 || e.Position >= sequences[e.Sequence].Length)
                throw new ArgumentOutOfRangeException(nameof(examples), e.Position, $"position must be in 1..{sequences[e.Sequence].Length - 1} (it needs a context)");
        }

        // Prefix sums of log2 unigram probabilities per referenced sequence: context means in O(1) per example.
        var prefix = new double[sequences.Count][];
        foreach (int s in examples.Select(e => e.Sequence).Distinct())
        {
            var seq = sequences[s].Span;
            var p = new double[seq.Length + 1];
            for (int i = 0; i < seq.Length; i++) p[i + 1] = p[i] + model.UnigramLog2Prob(seq[i]);
            prefix[s] = p;
        }

        int orders = model.MaxOrder;
        var surprisal = new double[orders][];
        for (int k = 0; k < orders; k++) surprisal[k] = new double[n];
        var unigram = new double[n];
        var top = new double[n];
        var loglen = new double[n];
        var logprob = new double[n];
        var div = new double[n];
        Parallel.For(0, (n + 4095) / 4096, chunk =>
        {
            Span<double> s = stackalloc double[5];
            for (int i = chunk * 4096; i < Math.Min(n, (chunk + 1) * 4096); i++)
            {
                var e = examples[i];
                var seq = sequences[e.Sequence].Span;
                int target = seq[e.Position];
                model.Surprisals(seq[..e.Position], target, s);
                for (int k = 0; k < orders; k++) surprisal[k][i] = s[k];
                unigram[i] = -s[0];
                top[i] = -s[orders - 1];
                loglen[i] = Math.Log2(e.Position);
                logprob[i] = prefix[e.Sequence][e.Position] / e.Position;
                div[i] = (uint)target < (uint)corpus.Diversity.Adjusted.Count ? corpus.Diversity.Adjusted[target] : double.NaN;
            }
        });

        var table = new PredictorTable(n, surprisal);
        Clip(unigram, options.ClipSd);
        // Residualize on the clipped unigram so the two columns in the regression are exactly orthogonal.
        var ngram = n > 2 ? Residualize(top, unigram) : top;
        Clip(ngram, options.ClipSd);
        Clip(logprob, options.ClipSd);
        Clip(loglen, options.ClipSd);
        Clip(div, options.ClipSd);
        table.Add(Unigram, unigram);
        table.Add(NGram, ngram);
        table.Add(ContextLogLength, loglen);
        table.Add(ContextLogProb, logprob);
        table.Add(ContextualDiv, div);
        return table;
    }

    /// <summary>Clips values to mean +- k sample SDs of the finite values (NaN stays NaN). k = 0 leaves them.</summary>
    public static void Clip(double[] values, double k)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (k <= 0) return;
        var s = MeanSd.Of(values);
        if (s.Count < 2) return;
        double lo = s.Mean - k * s.Sd, hi = s.Mean + k * s.Sd;
        for (int i = 0; i < values.Length; i++)
            if (!double.IsNaN(values[i])) values[i] = Math.Clamp(values[i], lo, hi);
    }

    // y residualized on x; a constant x (one distinct value) leaves y minus its mean.
    private static double[] Residualize(double[] y, double[] x)
    {
        try
        {
            return Ols.Fit(y, [x]).Residuals;
        }
        catch (ArgumentException)
        {
            double mean = y.Average();
            return y.Select(v => v - mean).ToArray();
        }
    }
}
