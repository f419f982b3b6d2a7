using LearningCurves.Analysis.Report;
using Xunit;

namespace LearningCurves.Analysis.Tests;

/// <summary>POS indicators (one level dropped, rare tags pooled) and the per-tag breakdown.</summary>
public class AnnotationsTests
{
    [Fact]
    public void Indicators_drop_the_commonest_level_and_pool_rare_tags_into_it()
    {
        var rng = new Random(8);
        var pos = Enumerable.Range(0, 300).Select(i => i < 150 ? "NOUN" : i < 250 ? "VERB" : i < 290 ? "ADJ" : "INTJ").OrderBy(_ => rng.Next()).ToArray();
        var ind = Annotations.Indicators(pos);
        Assert.Equal(["pos_VERB", "pos_ADJ"], ind.Select(x => x.Name));
        Assert.Equal("NOUN", Annotations.ReferenceLevel(pos));
        for (int i = 0; i < pos.Length; i++)
        {
            Assert.Equal(pos[i] == "VERB" ? 1.0 : 0.0, ind[0].Values[i]);
            Assert.Equal(pos[i] == "ADJ" ? 1.0 : 0.0, ind[1].Values[i]);
        }
        Assert.Empty(Annotations.Indicators(Enumerable.Repeat("NOUN", 50).Append("VERB").ToArray()));
    }

    [Fact]
    public void The_breakdown_averages_each_metric_over_the_finite_values_of_each_tag()
    {
        var pos = new[] { "NOUN", "VERB", "NOUN", "NOUN", "VERB" };
        var averaged = LearningCurves.Analysis.Metrics.Metric.All.ToDictionary(m => m.Name, _ => new[] { 1.0, 2.0, 3.0, double.NaN, 10.0 });
        var rows = Annotations.Breakdown(pos, averaged);
        Assert.Equal(["NOUN", "VERB"], rows.Select(r => r.Tag));
        Assert.Equal([3, 2], rows.Select(r => r.Count));
        Assert.All(rows[0].Means, m => Assert.Equal(2.0, m.Mean));
        Assert.All(rows[1].Means, m => Assert.Equal(6.0, m.Mean));
        var md = Annotations.BreakdownMarkdown(rows);
        Assert.Contains("| NOUN | 3 |", md, StringComparison.Ordinal);
    }
}
