namespace LearningCurves.Analysis.Pos;

/// <summary>
/// A trigram hidden Markov model tagger over <see cref="PosModel"/>'s data, decoded with Viterbi. Transitions are the
/// tag trigram counts smoothed by linear interpolation of trigram, bigram and unigram relative frequencies, with weights
/// by deleted interpolation (Brants 2000, "TnT"). Emissions of known words are the lexicon's ln P(word | tag); unknown
/// words get P(tag | suffix) / P(tag) from suffixes (up to 5 letters) of the lexicon's rare words, smoothed from long
/// suffixes down to the tag prior (also after TnT). Numbers are cd; a capitalized word that does not begin the sentence
/// leans to a proper noun, a lower-case one away from it. The Penn tags are mapped to Universal POS by
/// <see cref="UposMapping"/>.
/// </summary>
public sealed class PosTagger
{
    private const int MaxSuffix = 5;
    private const double RareCount = 10;

    private readonly PosModel _m;
    private readonly int _t;
    private readonly double[] _logTrans;     // (T, T, T): ln P(t3 | t1, t2)
    private readonly double[] _logPrior;     // (T): ln P(t)
    private readonly Dictionary<string, double[]>[] _suffix; // [capitalized 0/1]: suffix -> P(t | suffix), smoothed
    private readonly double[][] _rarePrior;  // [capitalized]: P(t) over rare words
    private readonly int _punc, _nnp, _nnps, _cd, _jj, _nn, _sentenceStart;

    public PosTagger(PosModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        _m = model;
        int t = _t = model.TagCount;
        var c = model.Trigram;
        var uni = new double[t];
        var bi = new double[t * t];
        for (int a = 0; a < t; a++)
        for (int b = 0; b < t; b++)
        for (int d = 0; d < t; d++)
        {
            double v = c[(a * t + b) * t + d];
            bi[b * t + d] += v;
            uni[d] += v;
        }
        double n = uni.Sum();
        var pairs = new double[t * t]; // C(t1, t2) as a history
        for (int a = 0; a < t; a++)
        for (int b = 0; b < t; b++)
        for (int d = 0; d < t; d++) pairs[a * t + b] += c[(a * t + b) * t + d];
        var biHist = new double[t];
        for (int b = 0; b < t; b++)
        for (int d = 0; d < t; d++) biHist[b] += bi[b * t + d];

        // Deleted interpolation: each trigram's count votes for the order whose estimate without it is best.
        double l1 = 0, l2 = 0, l3 = 0;
        for (int a = 0; a < t; a++)
        for (int b = 0; b < t; b++)
        for (int d = 0; d < t; d++)
        {
            double v = c[(a * t + b) * t + d];
            if (v <= 0) continue;
            double f3 = pairs[a * t + b] > 1 ? (v - 1) / (pairs[a * t + b] - 1) : 0;
            double f2 = biHist[b] > 1 ? (bi[b * t + d] - 1) / (biHist[b] - 1) : 0;
            double f1 = (uni[d] - 1) / (n - 1);
            if (f3 >= f2 && f3 >= f1) l3 += v;
            else if (f2 >= f1) l2 += v;
            else l1 += v;
        }
        double ls = l1 + l2 + l3;
        l1 /= ls;
        l2 /= ls;
        l3 /= ls;
        Lambdas = (l1, l2, l3);
        _logTrans = new double[t * t * t];
        for (int a = 0; a < t; a++)
        for (int b = 0; b < t; b++)
        for (int d = 0; d < t; d++)
        {
            double p = l1 * uni[d] / n
                + (biHist[b] > 0 ? l2 * bi[b * t + d] / biHist[b] : 0)
                + (pairs[a * t + b] > 0 ? l3 * c[(a * t + b) * t + d] / pairs[a * t + b] : 0);
            _logTrans[(a * t + b) * t + d] = Math.Log(Math.Max(p, 1e-12));
        }
        _logPrior = uni.Select(u => Math.Log(Math.Max(u / n, 1e-12))).ToArray();

        _punc = Tag("punc");
        _nnp = Tag("nnp");
        _nnps = Tag("nnps");
        _cd = Tag("cd");
        _jj = Tag("jj");
        _nn = Tag("nn");
        _sentenceStart = _punc;

        // Suffix statistics of rare words: c(w, t) = P(w | t) C(t).
        _suffix = [new(StringComparer.Ordinal), new(StringComparer.Ordinal)];
        _rarePrior = [new double[t], new double[t]];
        var raw = new Dictionary<string, double[]>(StringComparer.Ordinal);
        foreach (var (word, entries) in model.Lexicon)
        {
            double total = entries.Sum(e => Math.Exp(e.LogP) * uni[e.Tag]);
            if (total > RareCount || word.Length < 2 || !char.IsLetter(word[^1])) continue;
            foreach (var e in entries)
            {
                double cnt = Math.Exp(e.LogP) * uni[e.Tag];
                // Proper-noun uses stand for the capitalized form, the rest for the lower-case one.
                int cap = e.Tag == _nnp || e.Tag == _nnps ? 1 : 0;
                _rarePrior[cap][e.Tag] += cnt;
                for (int k = 1; k <= Math.Min(MaxSuffix, word.Length - 1); k++)
                {
                    string key = cap + word[^k..];
                    if (!raw.TryGetValue(key, out var v)) raw[key] = v = new double[t];
                    v[e.Tag] += cnt;
                }
            }
        }
        for (int cap = 0; cap < 2; cap++)
        {
            double s = _rarePrior[cap].Sum();
            for (int i = 0; i < t; i++) _rarePrior[cap][i] /= s;
        }
        // theta: the standard deviation of the tag prior (TnT's smoothing weight).
        double mean = 1.0 / t;
        double theta = Math.Sqrt(_rarePrior[0].Sum(p => (p - mean) * (p - mean)) / (t - 1));
        foreach (var key in raw.Keys.OrderBy(k => k.Length, Comparer<int>.Default))
        {
            int cap = key[0] - '0';
            string suf = key[1..];
            var parent = suf.Length == 1 ? _rarePrior[cap] : _suffix[cap][suf[1..]];
            var v = raw[key];
            double s = v.Sum();
            var p = new double[t];
            for (int i = 0; i < t; i++) p[i] = (v[i] / s + theta * parent[i]) / (1 + theta);
            _suffix[cap][suf] = p;
        }
    }

    /// <summary>The interpolation weights (unigram, bigram, trigram).</summary>
    public (double Uni, double Bi, double Tri) Lambdas { get; }

    public PosModel Model => _m;

    private int Tag(string name)
    {
        int i = _m.TagIndex(name);
        if (i < 0) throw new InvalidOperationException($"the tag set of {_m.Source} lacks '{name}'");
        return i;
    }

    /// <summary>The Penn-style (Festival) tags of one sentence's tokens.</summary>
    public string[] TagPenn(IReadOnlyList<string> words)
    {
        ArgumentNullException.ThrowIfNull(words);
        int n = words.Count;
        if (n == 0) return [];
        var cands = new (int Tag, double Score)[n][];
        for (int i = 0; i < n; i++) cands[i] = Emissions(words[i], i == 0 || IsOpening(words, i));
        int t = _t;
        // Viterbi over (previous tag, tag) states; candidate lists keep it small.
        var score = new Dictionary<(int, int), double>[n];
        var back = new Dictionary<(int, int), int>[n];
        for (int i = 0; i < n; i++)
        {
            score[i] = [];
            back[i] = [];
            foreach (var (tag, em) in cands[i])
            {
                if (i == 0)
                {
                    score[0][(_sentenceStart, tag)] = _logTrans[(_sentenceStart * t + _sentenceStart) * t + tag] + em;
                    back[0][(_sentenceStart, tag)] = _sentenceStart;
                    continue;
                }
                foreach (var ((p2, p1), s) in score[i - 1])
                {
                    double v = s + _logTrans[(p2 * t + p1) * t + tag] + em;
                    if (!score[i].TryGetValue((p1, tag), out double old) || v > old)
                    {
                        score[i][(p1, tag)] = v;
                        back[i][(p1, tag)] = p2;
                    }
                }
            }
        }
        // Best final state, then follow the back pointers.
        var best = score[n - 1].MaxBy(kv => kv.Value).Key;
        var tags = new int[n];
        var state = best;
        for (int i = n - 1; i >= 0; i--)
        {
            tags[i] = state.Item2;
            int p2 = back[i][state];
            state = (p2, state.Item1);
        }
        return tags.Select(x => _m.Tags[x]).ToArray();
    }

    /// <summary>Universal POS tags of one sentence's tokens.</summary>
    public string[] Tag(IReadOnlyList<string> words)
    {
        var penn = TagPenn(words);
        return UposMapping.Map(words, penn);
    }

    /// <summary>A token after an opening quote/bracket at the sentence start counts as sentence-initial too.</summary>
    private static bool IsOpening(IReadOnlyList<string> words, int i)
    {
        for (int j = 0; j < i; j++)
        {
            if (words[j].Any(char.IsLetterOrDigit)) return false;
        }
        return true;
    }

    private (int Tag, double Score)[] Emissions(string word, bool sentenceInitial)
    {
        string lower = word.ToLowerInvariant();
        bool capitalized = word.Length > 0 && char.IsUpper(word[0]);
        bool hasLetter = word.Any(char.IsLetter), hasDigit = word.Any(char.IsDigit);
        if (hasDigit && !hasLetter) return [(_cd, 0)];
        if (hasDigit && IsOrdinal(lower)) return [(_jj, 0)];
        if (!hasLetter && !hasDigit && !_m.Lexicon.ContainsKey(lower)) return [(_punc, 0)];
        var list = new Dictionary<int, double>();
        if (_m.Lexicon.TryGetValue(lower, out var entries))
        {
            foreach (var (tag, lp) in entries) list[tag] = lp;
            // Case: a capitalized word inside a sentence leans to a proper noun; a lower-case one away from it.
            if (capitalized && !sentenceInitial)
            {
                foreach (int p in new[] { _nnp, _nnps })
                {
                    if (list.TryGetValue(p, out double v)) list[p] = v + Math.Log(10);
                }
                if (!list.ContainsKey(_nnp) && !list.ContainsKey(_nnps)) list[_nnp] = -12;
            }
            else if (!capitalized)
            {
                foreach (int p in new[] { _nnp, _nnps })
                {
                    if (list.ContainsKey(p)) list[p] -= Math.Log(100);
                }
            }
        }
        else
        {
            // Unknown: the longest known suffix of the matching case class; the parts of a hyphenated word use the last part.
            string w = lower.Contains('-', StringComparison.Ordinal) ? lower[(lower.LastIndexOf('-') + 1)..] : lower;
            if (w.Length == 0) w = lower;
            int cap = capitalized && !sentenceInitial ? 1 : 0;
            double[]? p = null;
            for (int k = Math.Min(MaxSuffix, w.Length); k >= 1 && p is null; k--) _suffix[cap].TryGetValue(w[^k..], out p);
            p ??= _rarePrior[cap];
            // Sentence-initial capitalized unknown words may be proper nouns too.
            if (capitalized && sentenceInitial)
            {
                double[]? q = null;
                for (int k = Math.Min(MaxSuffix, w.Length); k >= 1 && q is null; k--) _suffix[1].TryGetValue(w[^k..], out q);
                q ??= _rarePrior[1];
                p = p.Zip(q, (a, b) => 0.5 * a + 0.5 * b).ToArray();
            }
            var ranked = Enumerable.Range(0, _t).Where(i => p[i] > 0).OrderByDescending(i => p[i]).Take(6).ToArray();
            foreach (int i in ranked) list[i] = Math.Log(p[i]) - _logPrior[i];
            if (list.Count == 0) list[_nn] = 0;
        }
        return list.Select(kv => (kv.Key, kv.Value)).ToArray();
    }

    private static bool IsOrdinal(string s) =>
        s.Length > 2 && s.Take(s.Length - 2).All(char.IsDigit) && (s.EndsWith("st", StringComparison.Ordinal) || s.EndsWith("nd", StringComparison.Ordinal)
            || s.EndsWith("rd", StringComparison.Ordinal) || s.EndsWith("th", StringComparison.Ordinal));
}
