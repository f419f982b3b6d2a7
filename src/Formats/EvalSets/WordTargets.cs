using LearningCurves.Formats.IO;

namespace LearningCurves.Formats.EvalSets;

/// <summary>
/// The word targets of an eval set made with <c>--targets words</c>: <c>words.npy</c> int32 (M, 3) rows of
/// (first, last, leading_boundary), the tokens first..last of example m's sequence that spell the word (the whitespace
/// tokens before it included) and 1 when the first of them begins with whitespace; and <c>boundary.npy</c> int32 (K) the
/// ids of the boundary tokens (text beginning with whitespace, and end-of-text), whose probability after a word ends it.
/// targets.npy row m is (sequence, last), so a reader that knows no word targets still sees valid token targets.
/// </summary>
public sealed record WordTargets(int[] Spans, int[] BoundaryIds)
{
    public const string WordsFile = "words.npy";
    public const string BoundaryFile = "boundary.npy";

    /// <summary>The manifest's "targets" value of a word eval set (a token eval set has "tokens" or no entry).</summary>
    public const string Kind = "words";

    public int Count => Spans.Length / 3;

    public (int First, int Last, bool LeadingBoundary) this[int m] => (Spans[3 * m], Spans[3 * m + 1], Spans[3 * m + 2] != 0);

    /// <summary>A mask of the boundary ids over a vocabulary of <paramref name="vocabSize"/>.</summary>
    public bool[] BoundaryMask(int vocabSize)
    {
        var b = new bool[vocabSize];
        foreach (int id in BoundaryIds) if ((uint)id < (uint)vocabSize) b[id] = true;
        return b;
    }

    internal void Save(string dir)
    {
        Npy.Write<int>(Path.Combine(dir, WordsFile), Spans, Count, 3);
        Npy.Write<int>(Path.Combine(dir, BoundaryFile), BoundaryIds, BoundaryIds.Length);
    }

    internal static WordTargets Load(string dir, int[] targets, int seqLen, int vocab)
    {
        string wp = Path.Combine(dir, WordsFile), bp = Path.Combine(dir, BoundaryFile);
        foreach (var p in new[] { wp, bp })
        {
            if (!File.Exists(p)) throw UserError.InFile(p, "missing (the manifest says the targets are words)");
        }
        var (spans, shape) = Npy.ReadInt32(wp);
        if (shape.Length != 2 || shape[1] != 3 || shape[0] != targets.Length / 2)
            throw UserError.InFile(wp, $"expected int32 ({targets.Length / 2}, 3), found shape ({string.Join(", ", shape)})");
        for (int m = 0; m < shape[0]; m++)
        {
            int first = spans[3 * m], last = spans[3 * m + 1], lead = spans[3 * m + 2];
            if (first < 1 || last < first || last >= seqLen || last != targets[2 * m + 1] || lead is not (0 or 1))
                throw UserError.InFile(wp, $"example {m}: ({first}, {last}, {lead}) is not a word ending at its target position {targets[2 * m + 1]} within 1..{seqLen - 1}");
        }
        var (ids, bshape) = Npy.ReadInt32(bp);
        if (bshape.Length != 1) throw UserError.InFile(bp, $"expected int32 (K), found shape ({string.Join(", ", bshape)})");
        foreach (int id in ids)
        {
            if ((uint)id >= (uint)vocab) throw UserError.InFile(bp, $"boundary id {id} is outside the vocabulary 0..{vocab - 1}");
        }
        return new WordTargets(spans, ids);
    }
}
