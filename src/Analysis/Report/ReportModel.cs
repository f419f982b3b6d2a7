using LearningCurves.Analysis.Generation;
using LearningCurves.Analysis.Plots;
using LearningCurves.Formats.EvalSets;

namespace LearningCurves.Analysis.Report;

/// <summary>What was analysed: the suite in numbers, for the report's opening lines.</summary>
public sealed record SuiteSummary(
    IReadOnlyList<string> Runs, int Checkpoints, long FirstStep, long LastStep, int Examples, string EvalSet,
    long TrainingTokens, string TrainingSource, double ChanceBits);

/// <summary>One metric's run-averaged values over examples and how they summarise.</summary>
public sealed record MetricSummary(string Name, string Description, double[] Values)
{
    public double Mean => Stat(v => v.Average());

    public double Sd => Stat(v =>
    {
        if (v.Length < 2) return double.NaN;
        double mean = v.Average();
        return Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Length - 1));
    });

    public double Median => Quantile(0.5);

    public double Quantile(double q)
    {
        var v = Finite();
        if (v.Length == 0) return double.NaN;
        Array.Sort(v);
        double pos = q * (v.Length - 1);
        int lo = (int)Math.Floor(pos), hi = Math.Min(v.Length - 1, lo + 1);
        return v[lo] + (pos - lo) * (v[hi] - v[lo]);
    }

    public int Defined => Finite().Length;

    private double[] Finite() => Values.Where(double.IsFinite).ToArray();

    private double Stat(Func<double[], double> f)
    {
        var v = Finite();
        return v.Length == 0 ? double.NaN : f(v);
    }
}

/// <summary>One row of a coefficient table.</summary>
public sealed record Coefficient(string Name, double Value, double StdError, double T);

/// <summary>One step of the sequential model comparison.</summary>
public sealed record SequentialRow(string Added, double AdjRSquared, double LrChi2, int Df, double P);

/// <summary>The regressions of one metric (the target) on the predictors.</summary>
public sealed record RegressionView(
    string Target, int N, IReadOnlyList<Coefficient> Full, double RSquared, double AdjRSquared,
    IReadOnlyList<Coefficient> Single, IReadOnlyList<Coefficient> OnUnigramResiduals, IReadOnlyList<SequentialRow> Sequential);

/// <summary>How the metrics relate to each other and across runs.</summary>
public sealed record CorrelationView(
    IReadOnlyList<string> Metrics, double[,] Averaged, double[,]? Concatenated,
    IReadOnlyList<(string Metric, double Mean, double Sd)> BetweenRuns);

/// <summary>The regression section: per metric, plus the predictors' VIFs.</summary>
public sealed record StatsView(IReadOnlyList<RegressionView> Targets, IReadOnlyList<(string Predictor, double Vif)> Vifs);

/// <summary>Learning phases: correlation with n-gram surprisal over training, and between runs.</summary>
public sealed record PhasesView(
    long[] Steps, IReadOnlyList<Series> Ngram, double[] CrossRunMean, double[]? CrossRunSd)
{
    /// <summary>log10 of each step; step 0 is placed half a decade before the first positive step so it still shows.</summary>
    public double[] LogSteps => ReportMath.LogSteps(Steps);
}

/// <summary>Generated text at one checkpoint: repetition averaged over prompts, and one sample.</summary>
public sealed record GenerationRow(string Run, long Step, RepetitionStats Repetition, int Prompts, string SamplePrompt, string SampleText);

/// <summary>The generated-text section.</summary>
public sealed record GenerationView(IReadOnlyList<GenerationRow> Rows, double Temperature, int MaxTokens, int Seed);

/// <summary>Everything report.html shows. Sections left null are reported as not computed, with the reason in Notes.</summary>
public sealed class ReportData
{
    public required string Title { get; init; }
    public required SuiteSummary Suite { get; init; }
    public IReadOnlyList<CurvePanel> Gallery { get; init; } = [];
    public IReadOnlyList<MetricSummary> Metrics { get; init; } = [];

    /// <summary>log10 training frequency of each example's target token (same order as the metric values).</summary>
    public double[]? LogFrequency { get; init; }

    public CorrelationView? Correlations { get; init; }
    public StatsView? Stats { get; init; }
    public PhasesView? Phases { get; init; }
    public GenerationView? Generation { get; init; }

    /// <summary>Run-averaged metrics by POS tag (docs/annotations.md), or null where the tags were not computed.</summary>
    public IReadOnlyList<PosRow>? PosBreakdown { get; init; }

    /// <summary>The UMAP plots of the curves (name, caption, PNG); empty where the embedding was not computed.</summary>
    public IReadOnlyList<(string Name, string Caption, byte[] Png)> UmapFigures { get; init; } = [];

    /// <summary>Remarks for the reader (what was skipped and why).</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>Files written beside the report, relative to it, with a one-line description.</summary>
    public IReadOnlyList<(string File, string What)> Files { get; init; } = [];
}

public static class ReportMath
{
    /// <summary>log10(step), with step 0 put half a decade before the first positive step.</summary>
    public static double[] LogSteps(IReadOnlyList<long> steps)
    {
        ArgumentNullException.ThrowIfNull(steps);
        long firstPositive = steps.Where(s => s > 0).DefaultIfEmpty(1).Min();
        return steps.Select(s => s > 0 ? Math.Log10(s) : Math.Log10(firstPositive) - 0.5).ToArray();
    }

    /// <summary>Pearson r over pairs where both are finite; NaN with fewer than 3 pairs or a constant series.</summary>
    public static double Pearson(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double sa = 0, sb = 0;
        int n = 0;
        for (int i = 0; i < a.Length; i++)
        {
            if (!double.IsFinite(a[i]) || !double.IsFinite(b[i])) continue;
            sa += a[i];
            sb += b[i];
            n++;
        }
        if (n < 3) return double.NaN;
        double ma = sa / n, mb = sb / n, sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            if (!double.IsFinite(a[i]) || !double.IsFinite(b[i])) continue;
            double da = a[i] - ma, db = b[i] - mb;
            sab += da * db;
            saa += da * da;
            sbb += db * db;
        }
        return saa > 0 && sbb > 0 ? sab / Math.Sqrt(saa * sbb) : double.NaN;
    }
}
