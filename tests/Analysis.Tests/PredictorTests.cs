using LearningCurves.Analysis.NGrams;
using LearningCurves.Analysis.Predictors;
using LearningCurves.Analysis.Smoothing;
using LearningCurves.Analysis.Statistics;
using Xunit;

namespace LearningCurves.Analysis.Tests;

public class PredictorTests
{
    [Fact]
    public void Contextual_diversity_counts_frequent_types_in_the_window_within_a_sequence()
    {
        int[][] corpus = [[0, 1, 2, 0, 3], [4, 0, 1]];
        long[] counts = [3, 2, 1, 1, 1];
        var d = ContextualDiversity.Count(corpus.Select(s => (ReadOnlyMemory<int>)s), counts, topTypes: 2, window: 2);
        // Top-2 types are 0 and 1. Token 4 starts a sequence, so it sees nothing (the 3 and 0 before it are another sequence).
        Assert.Equal([1, 1, 2, 1, 0], d.Raw);
        var x = counts.Select(c => Math.Log10(c)).ToArray();
        var fit = PenalizedSpline.Fit(x, d.Raw.Select(v => (double)v).ToArray());
        for (int t = 0; t < 5; t++) Assert.Equal(d.Raw[t] - fit.Fitted[t], d.Adjusted[t], 12);
    }

    [Fact]
    public void Predictor_columns_follow_their_definitions()
    {
        var rng = new Random(9);
        int vocab = 40;
        var train = Enumerable.Range(0, 200).Select(_ => Enumerable.Range(0, rng.Next(5, 60)).Select(_ => rng.Next(vocab - 2) * rng.Next(2)).ToArray()).ToArray();
        var eval = Enumerable.Range(0, 30).Select(_ => Enumerable.Range(0, 40).Select(_ => rng.Next(vocab)).ToArray()).ToArray();
        var options = new PredictorOptions(TopTypes: 10, Window: 5, ClipSd: 0);
        var corpus = CorpusStatistics.Build(() => train.Select(s => (ReadOnlyMemory<int>)s), vocab, options);
        var examples = Enumerable.Range(0, 300).Select(_ => new Example(rng.Next(30), rng.Next(1, 40))).ToArray();
        var evalMem = eval.Select(s => (ReadOnlyMemory<int>)s).ToArray();
        var table = PredictorTable.Compute(corpus, evalMem, examples, options);

        Assert.Equal(PredictorTable.Names, table.Columns);
        var m = corpus.NGrams;
        var s = new double[5];
        var top = new double[examples.Length];
        for (int i = 0; i < examples.Length; i++)
        {
            var (seq, pos) = (eval[examples[i].Sequence], examples[i].Position);
            int target = seq[pos];
            m.Surprisals(seq.AsSpan(0, pos), target, s);
            for (int k = 0; k < 5; k++) Assert.Equal(s[k], table.NGramSurprisal[k][i]);
            top[i] = -s[4];
            Assert.Equal(m.UnigramLog2Prob(target), table[PredictorTable.Unigram][i], 12);
            Assert.Equal(Math.Log2(pos), table[PredictorTable.ContextLogLength][i], 12);
            Assert.Equal(seq.Take(pos).Average(t => m.UnigramLog2Prob(t)), table[PredictorTable.ContextLogProb][i], 10);
            Assert.Equal(corpus.Diversity.Adjusted[target], table[PredictorTable.ContextualDiv][i]);
        }
        var resid = Ols.Fit(top, [table[PredictorTable.Unigram]]).Residuals;
        for (int i = 0; i < resid.Length; i++) Assert.Equal(resid[i], table[PredictorTable.NGram][i], 10);
        // Unseen targets (ids 38, 39 never occur in training) take the rarest seen token's unigram value.
        Assert.Equal(-m.MaxUnigramSurprisal, m.UnigramLog2Prob(39));
    }

    [Fact]
    public void Clipping_holds_values_within_five_sd_and_keeps_nan()
    {
        var v = Enumerable.Repeat(0.0, 400).Concat([1000.0, double.NaN]).ToArray();
        var s = MeanSd.Of(v);
        PredictorTable.Clip(v, 5);
        Assert.Equal(s.Mean + 5 * s.Sd, v[400], 10);
        Assert.True(double.IsNaN(v[401]));
        Assert.Equal(0, v[0]);
    }

    [Fact]
    public void Examples_without_context_are_rejected_and_columns_can_be_added()
    {
        int[][] train = [[1, 2, 3, 1, 2], [2, 3, 1]];
        var corpus = CorpusStatistics.Build(() => train.Select(s => (ReadOnlyMemory<int>)s), 4, new PredictorOptions(TopTypes: 2));
        ReadOnlyMemory<int>[] eval = [new[] { 1, 2, 3, 0 }];
        Assert.Throws<ArgumentOutOfRangeException>(() => PredictorTable.Compute(corpus, eval, [new Example(0, 0)]));
        Assert.Throws<ArgumentOutOfRangeException>(() => PredictorTable.Compute(corpus, eval, [new Example(0, 4)]));
        Assert.Throws<ArgumentOutOfRangeException>(() => PredictorTable.Compute(corpus, eval, [new Example(1, 1)]));
        var t = PredictorTable.Compute(corpus, eval, [new Example(0, 1), new Example(0, 2), new Example(0, 3)]);
        t.Add("pos_noun", [0, 1, 0]);
        Assert.Equal(6, t.Columns.Count);
        Assert.Throws<ArgumentException>(() => t.Add("pos_verb", [1]));
        Assert.True(double.IsNaN(t[PredictorTable.ContextualDiv][2])); // token 0 never occurs in training
    }

    [Fact]
    public void Model_backoff_feeds_the_table_with_pruning_on()
    {
        int[][] train = [[1, 2, 3, 1, 2, 3], [1, 2, 3]];
        var options = new PredictorOptions(new NGramOptions(Prune: true), TopTypes: 3, ClipSd: 0);
        var corpus = CorpusStatistics.Build(() => train.Select(s => (ReadOnlyMemory<int>)s), 4, options);
        ReadOnlyMemory<int>[] eval = [new[] { 1, 2, 3, 2 }];
        var t = PredictorTable.Compute(corpus, eval, [new Example(0, 2), new Example(0, 3)], options);
        Assert.Equal(0, t.NGramSurprisal[4][0], 12);                 // (P,P,1,2,3) seen twice: probability 1
        Assert.Equal(t.NGramSurprisal[0][1], t.NGramSurprisal[4][1]); // (3,2) never seen: back to unigram
    }
}
