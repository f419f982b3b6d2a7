using LearningCurves.Engine.EvalSets;
using LearningCurves.Engine.Model;
using LearningCurves.Engine.Scoring;
using LearningCurves.Formats.EvalSets;
using LearningCurves.Formats;

namespace LearningCurves.Engine.Sweeps;

/// <summary>
/// Scores every example of an eval set with one model into a row (example order), a fixed number of sequences per
/// forward pass. The batches depend only on the eval set and the batch size, so a row is computed the same way
/// whichever process computes it.
/// </summary>
public sealed class EvalScorer
{
    private readonly EvalSet _eval;
    private readonly (int Seq, int[] Positions, int[] Examples)[] _groups;
    private readonly int _batch;

    public EvalScorer(EvalSet eval, int batchSequences)
    {
        ArgumentNullException.ThrowIfNull(eval);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSequences, 1);
        _eval = eval;
        _batch = batchSequences;
        // Each used sequence once, with its target positions and the example index of each.
        var bySeq = new Dictionary<int, (List<int> P, List<int> E)>();
        var order = new List<int>();
        for (int m = 0; m < eval.Examples; m++)
        {
            int s = eval.Targets[2 * m], p = eval.Targets[2 * m + 1];
            if (!bySeq.TryGetValue(s, out var g))
            {
                bySeq[s] = g = (new List<int>(), new List<int>());
                order.Add(s);
            }
            g.P.Add(p);
            g.E.Add(m);
        }
        _groups = order.Select(s => (s, bySeq[s].P.ToArray(), bySeq[s].E.ToArray())).ToArray();
    }

    /// <summary>Tokens run through the model per checkpoint.</summary>
    public long TokensPerCheckpoint => (long)_groups.Length * _eval.SeqLen;

    /// <summary>Checks the model can score this eval set; a <see cref="UserError"/> naming its source otherwise.</summary>
    public void CheckModel(ModelConfig cfg, string source)
    {
        ArgumentNullException.ThrowIfNull(cfg);
        if (cfg.VocabSize < _eval.VocabSize)
            throw new UserError($"{source}: vocab_size {cfg.VocabSize} is smaller than the eval set's vocabulary ({_eval.VocabSize})");
        if (cfg.MaxPositions < _eval.SeqLen)
            throw new UserError($"{source}: n_positions {cfg.MaxPositions} is shorter than the eval set's seq-len {_eval.SeqLen}");
    }

    /// <summary>Fills <paramref name="row"/> (Examples values) with surprisals in bits; <paramref name="progress"/> gets the fraction done.</summary>
    public void Score(DecoderModel model, Span<float> row, Action<double>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (row.Length != _eval.Examples) throw new ArgumentException($"row has {row.Length} values, the eval set {_eval.Examples} examples");
        if (_eval.Words is not null)
        {
            ScoreWords(model, row, progress);
            return;
        }
        for (int start = 0; start < _groups.Length; start += _batch)
        {
            int n = Math.Min(_batch, _groups.Length - start);
            var seqs = new int[n][];
            var pos = new int[n][];
            for (int i = 0; i < n; i++)
            {
                seqs[i] = _eval.Sequence(_groups[start + i].Seq).ToArray();
                pos[i] = _groups[start + i].Positions;
            }
            var s = model.Score(seqs, pos);
            int k = 0;
            for (int i = 0; i < n; i++)
            {
                foreach (int e in _groups[start + i].Examples) row[e] = s[k++];
            }
            progress?.Invoke((double)(start + n) / _groups.Length);
        }
    }

    /// <summary>Word targets: each example's word surprisal (tokens + boundary correction, <see cref="WordSurprisal"/>).</summary>
    private void ScoreWords(DecoderModel model, Span<float> row, Action<double>? progress)
    {
        var words = _eval.Words!;
        var boundary = _boundary ??= words.BoundaryMask(model.Config.VocabSize);
        for (int start = 0; start < _groups.Length; start += _batch)
        {
            int n = Math.Min(_batch, _groups.Length - start);
            var seqs = new int[n][];
            var placed = new List<(int, WordSurprisal.Placed)>();
            var order = new List<int>();
            for (int i = 0; i < n; i++)
            {
                var g = _groups[start + i];
                seqs[i] = _eval.Sequence(g.Seq).ToArray();
                foreach (int e in g.Examples)
                {
                    var (first, last, lead) = words[e];
                    placed.Add((i, new WordSurprisal.Placed(first, last, lead)));
                    order.Add(e);
                }
            }
            var scores = WordSurprisal.ScoreWords(model, boundary, seqs, placed, n);
            for (int k = 0; k < order.Count; k++) row[order[k]] = (float)scores[k].Bits;
            progress?.Invoke((double)(start + n) / _groups.Length);
        }
    }

    private bool[]? _boundary;
}
