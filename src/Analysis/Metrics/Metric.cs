namespace LearningCurves.Analysis.Metrics;

/// <summary>
/// One learning-curve metric: its column name (in per_run.csv, examples.csv, the analysis table, stats.json and the
/// report) and what it means. Every metric is declared here once; everything else takes its name from here.
/// </summary>
public sealed class Metric
{
    private Metric(string name, bool perRun, string description)
    {
        Name = name;
        IsPerRun = perRun;
        Description = description;
    }

    /// <summary>The column name.</summary>
    public string Name { get; }

    /// <summary>True for a metric of each run (run-averaged in examples.csv); false for one taken across runs.</summary>
    public bool IsPerRun { get; }

    /// <summary>One sentence for the report.</summary>
    public string Description { get; }

    public static Metric FinalSurprisal { get; } = new("final_surprisal", true,
        "Mean surprisal (bits) over the last checkpoints: how well the token is predicted in the end.");

    public static Metric WithinRunVar { get; } = new("within_run_var", true,
        "Standard deviation of surprisal over the last checkpoints: how much it still fluctuates within a run.");

    public static Metric Aoa { get; } = new("aoa", true,
        "Age of acquisition in log10(step): where the smoothed curve first falls halfway from chance to its minimum.");

    public static Metric Forgettability { get; } = new("forgettability", true,
        "Total rise of the smoothed curve: how much the token is learned and then forgotten.");

    public static Metric CrossRunVar { get; } = new("crossrun_var", false,
        "Mean squared difference of smoothed curves between runs: how much the runs disagree.");

    /// <summary>Every metric, in column order.</summary>
    public static IReadOnlyList<Metric> All { get; } = [FinalSurprisal, WithinRunVar, Aoa, Forgettability, CrossRunVar];

    /// <summary>The metrics of each run, in column order.</summary>
    public static IReadOnlyList<Metric> PerRun { get; } = [.. All.Where(m => m.IsPerRun)];

    /// <summary>The names of <paramref name="metrics"/>, in order.</summary>
    public static string[] Names(IEnumerable<Metric> metrics) => [.. metrics.Select(m => m.Name)];

    public override string ToString() => Name;
}

/// <summary>
/// The metrics of every example of every run, as computed (no file in between): per-run values run-major
/// ([runs * examples]) and the cross-run variability per example.
/// </summary>
public sealed class MetricResults
{
    private readonly Dictionary<Metric, double[]> _perRun;
    private readonly double[] _crossRun;

    internal MetricResults(int runs, int examples)
    {
        Runs = runs;
        Examples = examples;
        _perRun = Metric.PerRun.ToDictionary(m => m, _ => new double[(long)runs * examples]);
        _crossRun = new double[examples];
    }

    public int Runs { get; }

    public int Examples { get; }

    /// <summary>The run-major storage of a per-run metric (run r's example e at r * Examples + e), for the computation.</summary>
    internal double[] Storage(Metric metric) => metric.IsPerRun ? _perRun[metric] : _crossRun;

    /// <summary>Run <paramref name="run"/>'s value of a per-run metric for example <paramref name="example"/>.</summary>
    public double Value(Metric metric, int run, int example) => _perRun[metric][(long)run * Examples + example];

    /// <summary>The value of <paramref name="metric"/> for <paramref name="example"/> in examples.csv: the mean over runs
    /// of a per-run metric, or the cross-run metric itself.</summary>
    public double Averaged(Metric metric, int example)
    {
        if (!metric.IsPerRun) return _crossRun[example];
        var a = _perRun[metric];
        double s = 0;
        for (int r = 0; r < Runs; r++) s += a[(long)r * Examples + example];
        return s / Runs;
    }

    /// <summary>Each run's values of a per-run metric, one array per run indexed by example.</summary>
    public double[][] PerRunValues(Metric metric)
    {
        if (!metric.IsPerRun) throw new ArgumentException($"{metric} is not a per-run metric", nameof(metric));
        var a = _perRun[metric];
        return [.. Enumerable.Range(0, Runs).Select(r => a.AsSpan((int)((long)r * Examples), Examples).ToArray())];
    }

    /// <summary><see cref="Averaged(Metric, int)"/> for every example.</summary>
    public double[] AveragedValues(Metric metric)
    {
        var v = new double[Examples];
        for (int e = 0; e < Examples; e++) v[e] = Averaged(metric, e);
        return v;
    }
}
