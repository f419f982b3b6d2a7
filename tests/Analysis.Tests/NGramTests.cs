using LearningCurves.Analysis.NGrams;
using Xunit;

namespace LearningCurves.Analysis.Tests;

public class NGramTests
{
    private const int P = NGramModel.Pad;

    private static NGramModel Build(int vocab, NGramOptions? options, params int[][] corpus)
    {
        var c = new NGramCounter(vocab, options);
        foreach (var s in corpus) c.Add(s);
        return c.Build();
    }

    [Fact]
    public void Sequences_are_left_padded_and_ngrams_never_cross_a_sequence_start()
    {
        var m = Build(5, null, [1, 2, 3], [1, 2, 4], [2, 3]);
        Assert.Equal(8, m.Tokens);
        Assert.Equal(3, m.UnigramCount(2));
        Assert.Equal(2, m.Count([P, 1]));
        Assert.Equal(1, m.Count([P, 2]));
        Assert.Equal(0, m.Count([3, 1])); // would be 1 if the first sequence ran into the second
        Assert.Equal(0, m.Count([4, 2]));
        Assert.Equal(2, m.Count([P, P, P, P, 1]));
        Assert.Equal(1, m.Count([P, P, 1, 2, 4]));
        Assert.Equal(1, m.Count([P, P, P, 2, 3]));
        Assert.Equal(2, m.Count([2, 3]));
        Assert.Equal(2, m.Count([1, 2]));
        Assert.Equal(0, m.Count([P]));
    }

    [Fact]
    public void Probabilities_are_maximum_likelihood_over_continuations()
    {
        var m = Build(5, null, [1, 2, 3], [1, 2, 4], [2, 3]);
        Assert.Equal(0.5, m.Probability([1, 2], 3, 3), 15);
        Assert.Equal(2.0 / 3, m.Probability([1, 2], 3, 2), 15);   // (2,3) twice of 2's three continuations
        Assert.Equal(2.0 / 3, m.Probability([], 1, 2), 15);       // after the placeholder: 1, 1, 2
        Assert.Equal(2.0 / 3, m.Probability([], 1, 5), 15);       // (P,P,P,P) -> 1 twice, 2 once
        Assert.Equal(0.0, m.Probability([2], 1, 2), 15);
    }

    [Fact]
    public void Zero_probabilities_back_off_and_unseen_unigrams_take_the_largest_surprisal()
    {
        var m = Build(6, null, [1, 2, 3], [1, 2, 4], [2, 3], [1, 1]);
        Span<double> s = stackalloc double[5];
        m.Surprisals([2, 3], 4, s);
        double uni4 = -Math.Log2(1.0 / 10);
        Assert.Equal(uni4, s[0], 12);
        Assert.Equal(uni4, s[1], 12); // (3,4) unseen -> unigram
        Assert.Equal(uni4, s[4], 12);
        m.Surprisals([1, 2], 4, s);
        Assert.Equal(-Math.Log2(1.0 / 3), s[1], 12); // (2,4) once of 2's three continuations
        Assert.Equal(-Math.Log2(1.0 / 2), s[2], 12); // (1,2,4) once of (1,2)'s two
        Assert.Equal(-Math.Log2(1.0 / 2), s[3], 12); // (P,1,2,4)
        Assert.Equal(-Math.Log2(1.0 / 2), s[4], 12);
        m.Surprisals([1, 2], 0, s);                   // token 0 was never seen
        Assert.Equal(m.MaxUnigramSurprisal, s[0], 12);
        Assert.Equal(uni4, m.MaxUnigramSurprisal, 12); // the rarest seen token (4, once in 10)
        Assert.All(s.ToArray(), v => Assert.Equal(m.MaxUnigramSurprisal, v, 12));
        m.Surprisals([3], 1, s);                       // (3,1) unseen, and 3 never continues: back to the unigram
        Assert.Equal(-Math.Log2(4.0 / 10), s[1], 12);
    }

    [Fact]
    public void Pruning_drops_rare_higher_order_ngrams_periodically_and_at_the_end()
    {
        int[][] corpus = [[1, 2, 3, 4], [1, 2, 3, 1], [4, 4]];
        var none = Build(5, null, corpus);
        var end = Build(5, new NGramOptions(Prune: true), corpus);
        var each = Build(5, new NGramOptions(Prune: true, PruneEverySequences: 1), corpus);
        Assert.Equal(1, none.Count([2, 3, 4]));
        Assert.Equal(0, end.Count([2, 3, 4]));         // trigram seen once: dropped
        Assert.Equal(2, end.Count([1, 2, 3]));         // seen twice: kept
        Assert.Equal(1, end.Count([3, 4]));            // bigrams are never pruned
        Assert.Equal(2, end.Count([P, P, 1, 2]));
        Assert.Equal(0, end.Count([1, 2, 3, 4]));
        // Pruned after every sequence, (1,2,3) never reaches 2 before it is dropped.
        Assert.Equal(0, each.Count([1, 2, 3]));
        Assert.Equal(2, each.Count([1, 2]));
        Assert.Equal(3, each.UnigramCount(4));          // unigrams are never pruned
        Assert.Equal(2, each.UnigramCount(3));
        // Probabilities over what survives: (1,2) continues with 3 twice.
        Assert.Equal(1.0, end.Probability([1, 2], 3, 3), 15);
        Assert.Equal(0.0, end.Probability([2, 3], 4, 3), 15);
        // Sequence starts still resolve after pruning renumbered the tables.
        Assert.Equal(2, end.Count([P, P, P, P, 1]));
        // (P,P,P) continued with 1 twice and 4 once; (P,P,P,4) was dropped, so 1 is all that is left.
        Assert.Equal(1.0, end.Probability([], 1, 4), 15);
        Assert.Equal(2.0 / 3, none.Probability([], 1, 4), 15);
    }

    [Theory]
    [InlineData(1, 5, false, 1_000_000, 40)]
    [InlineData(2, 3, false, 1_000_000, 40)]
    [InlineData(3, 5, true, 1_000_000, 40)]
    [InlineData(4, 5, true, 7, 40)]
    [InlineData(5, 4, true, 3, 40)]
    [InlineData(6, 2, false, 1, 40)]
    [InlineData(7, 5, false, 1_000_000, 400)] // long sequences: the interleaved-lane path of order 5
    [InlineData(8, 5, true, 4, 400)]
    [InlineData(0, 5, true, 5, 40)]
    [InlineData(0, 5, false, 1_000_000, 300)]
    public void Counts_and_probabilities_match_a_brute_force_reference(int seed, int order, bool prune, int every, int maxLen)
    {
        var rng = new Random(seed == 0 ? Environment.TickCount : seed);
        int vocab = rng.Next(3, maxLen > 100 ? 60 : 12);
        var corpus = Enumerable.Range(0, rng.Next(20, 80))
            .Select(_ => Enumerable.Range(0, rng.Next(0, maxLen)).Select(_ => Zipf(rng, vocab)).ToArray()).ToArray();
        var options = new NGramOptions(order, prune, every);
        var model = Build(vocab, options, corpus);
        var (counts, continuations) = Reference(corpus, order, options);

        long tokens = corpus.Sum(s => (long)s.Length);
        Assert.Equal(tokens, model.Tokens);
        var bad = new List<string>();
        foreach (var (key, count) in counts)
        {
            var g = key.Split(',').Select(int.Parse).ToArray();
            long got = model.Count(g);
            if (got != count) bad.Add($"count({key}) = {got}, expected {count}");
            if (g.Length >= 2 && g[^1] != P)
            {
                var ctx = g[..^1];
                int pads = ctx.TakeWhile(t => t == P).Count();
                double expected = (double)count / continuations[string.Join(',', ctx)];
                double p = model.Probability(ctx[pads..], g[^1], g.Length);
                if (Math.Abs(p - expected) > 1e-14) bad.Add($"P({g[^1]} | {string.Join(',', ctx)}) = {p}, expected {expected}");
            }
        }
        Assert.True(bad.Count == 0, $"seed {seed}: {bad.Count} mismatches; first: {string.Join("; ", bad.Take(5))}");

        // Backoff surprisals agree with order-by-order probabilities, for contexts taken from the corpus (mostly seen).
        var sur = new double[order];
        foreach (var seq in corpus.Where(c => c.Length > 0).Take(20))
        {
            for (int pos = 0; pos < seq.Length; pos++)
            {
                int target = pos + 1 < seq.Length ? seq[pos + 1] : rng.Next(vocab);
                var ctx = seq.AsSpan(0, pos + 1);
                model.Surprisals(ctx, target, sur);
                double expected = -model.UnigramLog2Prob(target);
                for (int n = 1; n <= order; n++)
                {
                    double p = n == 1 ? 0 : model.Probability(ctx, target, n);
                    if (p > 0) expected = -Math.Log2(p);
                    Assert.True(Math.Abs(sur[n - 1] - expected) < 1e-12, $"seed {seed}: surprisal n={n} at {pos}: {sur[n - 1]} vs {expected}");
                }
            }
        }

        // Random queries, seen or not, agree on the count (absent = 0).
        for (int q = 0; q < 300; q++)
        {
            var g = Enumerable.Range(0, rng.Next(1, order + 1)).Select(_ => rng.Next(vocab)).ToArray();
            counts.TryGetValue(string.Join(',', g), out long expected);
            Assert.Equal(expected, model.Count(g));
        }
    }

    [Fact]
    public void Out_of_range_tokens_are_rejected()
    {
        var c = new NGramCounter(4);
        Assert.Throws<ArgumentOutOfRangeException>(() => c.Add([1, 4]));
        Assert.Throws<ArgumentOutOfRangeException>(() => c.Add([-1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new NGramCounter(4, new NGramOptions(MaxOrder: 6)));
    }

    [Fact]
    public void Tables_grow_past_many_resizes_without_losing_counts()
    {
        // 200k distinct bigrams force the tables through several doublings (they start at 4096 slots).
        var rng = new Random(11);
        int vocab = 5000;
        var seq = Enumerable.Range(0, 400_000).Select(_ => rng.Next(vocab)).ToArray();
        var c = new NGramCounter(vocab, new NGramOptions(MaxOrder: 3));
        c.Add(seq);
        var m = c.Build();
        var bigrams = new Dictionary<(int, int), int>();
        for (int i = 1; i < seq.Length; i++) bigrams[(seq[i - 1], seq[i])] = bigrams.GetValueOrDefault((seq[i - 1], seq[i])) + 1;
        Assert.Equal(bigrams.Count + 2, m.Distinct(2)); // + (P, seq[0]) and the placeholder pair
        foreach (var ((a, b), n) in bigrams.Take(2000)) Assert.Equal(n, m.Count([a, b]));
    }

    private static int Zipf(Random rng, int vocab)
    {
        // Roughly Zipfian ids so that higher-order n-grams repeat.
        double u = rng.NextDouble();
        return Math.Min(vocab - 1, (int)(Math.Pow(vocab + 1, u) - 1));
    }

    // Padded n-gram counts ("a,b,c" with -1 for the placeholder), pruned like the counter when asked, and the
    // continuation totals of every context.
    private static (Dictionary<string, long>, Dictionary<string, long>) Reference(int[][] corpus, int order, NGramOptions o)
    {
        var counts = new Dictionary<string, long>();
        long seqs = 0;
        foreach (var s in corpus)
        {
            var padded = Enumerable.Repeat(P, order - 1).Concat(s).ToArray();
            for (int i = order - 1; i < padded.Length; i++)
                for (int n = 1; n <= order; n++)
                {
                    var key = string.Join(',', padded[(i - n + 1)..(i + 1)]);
                    counts[key] = counts.GetValueOrDefault(key) + 1;
                }
            seqs++;
            if (o.Prune && seqs % o.PruneEverySequences == 0) PruneRef(counts, o);
        }
        if (o.Prune) PruneRef(counts, o);
        var cont = new Dictionary<string, long>();
        foreach (var (key, c) in counts)
        {
            int cut = key.LastIndexOf(',');
            if (cut < 0) continue;
            var ctx = key[..cut];
            cont[ctx] = cont.GetValueOrDefault(ctx) + c;
        }
        return (counts, cont);
    }

    private static void PruneRef(Dictionary<string, long> counts, NGramOptions o)
    {
        foreach (var key in counts.Keys.ToList())
            if (key.Count(ch => ch == ',') + 1 >= o.PruneFromOrder && counts[key] < o.PruneMinCount) counts.Remove(key);
    }
}
