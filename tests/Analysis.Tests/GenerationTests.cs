using LearningCurves.Analysis.Generation;
using Xunit;

namespace LearningCurves.Analysis.Tests;

public class GenerationTests
{
    [Fact]
    public void Hand_counted_text()
    {
        // a b a b c: unigrams a,b repeat (4 of 5 occurrences); bigrams ab,ba,ab,bc: ab repeats (2 of 4).
        var s = TextRepetition.Measure([1, 2, 1, 2, 3]);
        Assert.Equal(0.8, s.RepeatedShare[0], 12);
        Assert.Equal(0.5, s.RepeatedShare[1], 12);
        Assert.Equal(0.0, s.RepeatedShare[2], 12);
        Assert.Equal(0.6, s.DistinctN[0], 12);
        Assert.Equal(0.75, s.DistinctN[1], 12);
        Assert.Equal(1.0, s.DistinctN[2], 12);
        Assert.Equal(1.0, s.DistinctN[3], 12);
        Assert.Equal(2, s.LongestRepeatedSpan);
        Assert.Equal(5, s.Tokens);
    }

    [Fact]
    public void A_loop_is_all_repeats_and_its_span_overlaps()
    {
        var loop = Enumerable.Range(0, 30).Select(i => i % 3).ToArray();
        var s = TextRepetition.Measure(loop);
        for (int n = 0; n < TextRepetition.MaxN; n++) Assert.Equal(1.0, s.RepeatedShare[n], 12);
        Assert.Equal(3.0 / 30, s.DistinctN[0], 12);
        Assert.Equal(27, s.LongestRepeatedSpan); // positions 0..26 and 3..29
        Assert.Equal(29, TextRepetition.LongestRepeatedSpan(new int[30]));
    }

    [Fact]
    public void No_repeats_and_short_texts()
    {
        var s = TextRepetition.Measure([5, 6, 7]);
        Assert.All(s.RepeatedShare.Take(3), v => Assert.Equal(0.0, v));
        Assert.True(double.IsNaN(s.RepeatedShare[3]) && double.IsNaN(s.DistinctN[3]));
        Assert.Equal(0, s.LongestRepeatedSpan);
        var empty = TextRepetition.Measure([]);
        Assert.All(empty.DistinctN, v => Assert.True(double.IsNaN(v)));
        Assert.Equal(0, empty.LongestRepeatedSpan);
    }

    [Fact]
    public void Longest_span_matches_brute_force_on_random_texts()
    {
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        for (int trial = 0; trial < 50; trial++)
        {
            var t = Enumerable.Range(0, rng.Next(0, 60)).Select(_ => rng.Next(1, 4)).ToArray();
            int want = 0;
            for (int i = 0; i < t.Length; i++)
            {
                for (int j = i + 1; j < t.Length; j++)
                {
                    int k = 0;
                    while (j + k < t.Length && t[i + k] == t[j + k]) k++;
                    want = Math.Max(want, k);
                }
            }
            Assert.True(want == TextRepetition.LongestRepeatedSpan(t), $"seed {seed} trial {trial}: want {want}");
            // distinct-n and repeated share agree with a count by strings.
            var grams = Enumerable.Range(0, Math.Max(0, t.Length - 1)).Select(i => $"{t[i]},{t[i + 1]}").ToList();
            if (grams.Count == 0) continue;
            var s = TextRepetition.Measure(t);
            var groups = grams.GroupBy(g => g).ToList();
            Assert.Equal(groups.Count / (double)grams.Count, s.DistinctN[1], 12);
            Assert.Equal(groups.Where(g => g.Count() > 1).Sum(g => g.Count()) / (double)grams.Count, s.RepeatedShare[1], 12);
        }
    }

    [Fact]
    public void Mean_skips_texts_too_short_for_n()
    {
        var m = TextRepetition.Mean([TextRepetition.Measure([1, 1, 1, 1, 1]), TextRepetition.Measure([1, 2])]);
        Assert.Equal(0.5, m.RepeatedShare[0], 12);      // (1 + 0) / 2
        Assert.Equal(1.0, m.RepeatedShare[3], 12);      // only the first text has a 4-gram
        Assert.Equal(2.0, m.LongestRepeatedSpan, 12);   // (4 + 0) / 2
    }
}
