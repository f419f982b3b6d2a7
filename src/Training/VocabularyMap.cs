using LearningCurves.Engine.Model;

namespace LearningCurves.Training;

/// <summary>
/// The token ids that occur in the training data, renumbered 0..Count-1 in id order. Training with the compact
/// vocabulary and <see cref="TrainableGpt2.ZeroLogits"/> = the rest is exact for the full-vocabulary model whose
/// unused embedding rows are zero: such a row's logit is 0 for every input, a constant term in the softmax. The
/// head's matrix work then scales with the used vocabulary instead of all of it.
/// </summary>
public sealed class VocabularyMap
{
    private readonly int[] _toCompact; // (full V) compact id, or -1 when unused

    public VocabularyMap(int fullVocab, IEnumerable<int> usedIds)
    {
        ArgumentNullException.ThrowIfNull(usedIds);
        ArgumentOutOfRangeException.ThrowIfLessThan(fullVocab, 1);
        var used = new bool[fullVocab];
        foreach (int id in usedIds)
        {
            if ((uint)id >= (uint)fullVocab) throw new ArgumentOutOfRangeException(nameof(usedIds), $"id {id} outside 0..{fullVocab - 1}");
            used[id] = true;
        }
        _toCompact = new int[fullVocab];
        var full = new List<int>();
        for (int i = 0; i < fullVocab; i++)
        {
            _toCompact[i] = used[i] ? full.Count : -1;
            if (used[i]) full.Add(i);
        }
        if (full.Count == 0) throw new ArgumentException("no used ids", nameof(usedIds));
        ToFull = full.ToArray();
        FullVocab = fullVocab;
    }

    /// <summary>An identity map (every id used).</summary>
    public static VocabularyMap Identity(int fullVocab) => new(fullVocab, Enumerable.Range(0, fullVocab));

    public int FullVocab { get; }

    /// <summary>Number of used ids (the compact vocabulary size).</summary>
    public int Count => ToFull.Length;

    /// <summary>Full ids left out: the zero-logit entries.</summary>
    public int Unused => FullVocab - Count;

    /// <summary>(Count) the full id of each compact id.</summary>
    public int[] ToFull { get; }

    /// <summary>Renumbers a token stream in place to compact ids; every id must be used.</summary>
    public void Compact(int[] tokens)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        for (int i = 0; i < tokens.Length; i++)
        {
            int c = _toCompact[tokens[i]];
            if (c < 0) throw new ArgumentException($"token {tokens[i]} is not in the map", nameof(tokens));
            tokens[i] = c;
        }
    }

    /// <summary>Full-vocabulary weights from compact ones: used rows of wte in place, unused rows zero.</summary>
    public ModelWeights Expand(ModelWeights compact)
    {
        ArgumentNullException.ThrowIfNull(compact);
        if (compact.Config.VocabSize != Count) throw new ArgumentException($"weights have vocab {compact.Config.VocabSize}, the map {Count}");
        if (compact.LmHead is not null) throw new ArgumentException("untied heads are not expanded");
        int c = compact.Config.Embd;
        var wte = new float[(long)FullVocab * c];
        for (int i = 0; i < Count; i++) Array.Copy(compact.Wte, (long)i * c, wte, (long)ToFull[i] * c, c);
        return compact.With(TensorRole.Wte, wte, compact.Config with { VocabSize = FullVocab });
    }
}
