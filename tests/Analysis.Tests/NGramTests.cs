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
    [InlineData(1, 5, false, 1_000_000, 40, 1 << 25, false)]
    [InlineData(2, 3, false, 1_000_000, 40, 1 << 25, false)]
    [InlineData(3, 5, true, 1_000_000, 40, 1 << 25, false)]
    [InlineData(4, 5, true, 7, 40, 1 << 25, false)]
    [InlineData(5, 4, true, 3, 40, 1 << 25, false)]
    [InlineData(6, 2, false, 1, 40, 1 << 25, false)]
    [InlineData(7, 5, false, 1_000_000, 400, 1 << 25, false)] // long sequences: large groups, radix-sorted
    [InlineData(8, 5, true, 4, 400, 1 << 25, false)]
    // Small batches: every batch merges into the arrays and renumbers the orders above it.
    [InlineData(9, 5, false, 1_000_000, 40, 1, false)]
    [InlineData(10, 5, false, 1_000_000, 40, 37, false)]
    [InlineData(11, 5, true, 9, 60, 100, false)]
    [InlineData(12, 3, false, 1_000_000, 400, 500, false)]
    // Token ids of 17-21 bits: four look-ahead tokens no longer fit one 64-bit word (one rides in the key).
    [InlineData(13, 5, false, 1_000_000, 60, 1 << 25, true)]
    [InlineData(14, 5, true, 5, 60, 50, true)]
    [InlineData(15, 4, false, 1_000_000, 60, 20, true)]
    [InlineData(0, 5, true, 5, 40, 1 << 25, false)]
    [InlineData(0, 5, false, 1_000_000, 300, 64, false)]
    [InlineData(0, 5, false, 1_000_000, 100, 30, true)]
    public void Counts_and_probabilities_match_a_brute_force_reference(int seed, int order, bool prune, int every, int maxLen, int chunk, bool wideIds)
    {
        var rng = new Random(seed == 0 ? Environment.TickCount : seed);
        int types = rng.Next(3, maxLen > 100 ? 60 : 12);
        // Wide ids: the same few types spread over a vocabulary just under 2^21 (the largest order 5 allows).
        int vocab = wideIds ? (1 << 21) - 1 - rng.Next(1000) : types;
        int Id(int type) => wideIds ? (int)((type * 1_000_003L + 65_521) % vocab) : type;
        var corpus = Enumerable.Range(0, rng.Next(20, 80))
            .Select(_ => Enumerable.Range(0, rng.Next(0, maxLen)).Select(_ => Id(Zipf(rng, types))).ToArray()).ToArray();
        var options = new NGramOptions(order, prune, every, ChunkTokens: chunk);
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
                int target = pos + 1 < seq.Length ? seq[pos + 1] : Id(rng.Next(types));
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
            var g = Enumerable.Range(0, rng.Next(1, order + 1)).Select(_ => Id(rng.Next(types))).ToArray();
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
        // Order 5 carries the next four tokens in 64 bits plus one in the key: ids need at most 21 bits.
        Assert.Throws<ArgumentOutOfRangeException>(() => new NGramCounter(1 << 21));
        _ = new NGramCounter((1 << 21) - 1);
        _ = new NGramCounter(1 << 21, new NGramOptions(MaxOrder: 4));
    }

    [Fact]
    public void A_disposed_model_refuses_queries()
    {
        var m = Build(5, null, [1, 2, 3]);
        Assert.Equal(1, m.Count([1, 2]));
        m.Dispose();
        Assert.Throws<ObjectDisposedException>(() => m.Count([1, 2]));
        Assert.Throws<ObjectDisposedException>(() => m.Probability([1], 2, 2));
    }

    [Theory]
    [InlineData(1 << 25)] // one batch
    [InlineData(25_000)]  // 16 batches, each merged into what came before
    [InlineData(300)]     // shorter than a sequence: every sequence is a batch of its own
    public void Large_corpora_keep_every_count_however_they_are_batched(int chunk)
    {
        // 400 sequences of 1000 uniform ids over 5000: about 400k distinct bigrams and 3-grams.
        var rng = new Random(11);
        int vocab = 5000;
        var seqs = Enumerable.Range(0, 400).Select(_ => Enumerable.Range(0, 1000).Select(_ => rng.Next(vocab)).ToArray()).ToArray();
        var c = new NGramCounter(vocab, new NGramOptions(MaxOrder: 3, ChunkTokens: chunk));
        foreach (var s in seqs) c.Add(s);
        var m = c.Build();
        var bigrams = new Dictionary<(int, int), int>();
        var trigrams = new Dictionary<(int, int, int), int>();
        foreach (var s in seqs)
        {
            bigrams[(P, s[0])] = bigrams.GetValueOrDefault((P, s[0])) + 1;
            trigrams[(P, P, s[0])] = trigrams.GetValueOrDefault((P, P, s[0])) + 1;
            trigrams[(P, s[0], s[1])] = trigrams.GetValueOrDefault((P, s[0], s[1])) + 1;
            for (int i = 1; i < s.Length; i++) bigrams[(s[i - 1], s[i])] = bigrams.GetValueOrDefault((s[i - 1], s[i])) + 1;
            for (int i = 2; i < s.Length; i++) trigrams[(s[i - 2], s[i - 1], s[i])] = trigrams.GetValueOrDefault((s[i - 2], s[i - 1], s[i])) + 1;
        }
        Assert.Equal(bigrams.Count + 1, m.Distinct(2)); // + the placeholder pair
        Assert.Equal(trigrams.Count + 1, m.Distinct(3));
        foreach (var ((a, b), n) in bigrams.Where((_, i) => i % 50 == 0)) Assert.Equal(n, m.Count([a, b]));
        foreach (var ((a, b, d), n) in trigrams.Where((_, i) => i % 50 == 0)) Assert.Equal(n, m.Count([a, b, d]));
        Assert.Equal(400_000, m.Tokens);
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
