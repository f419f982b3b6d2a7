using LearningCurves.Analysis.Metrics;
using LearningCurves.Analysis.Predictors;
using LearningCurves.Formats.EvalSets;
using LearningCurves.Formats.Tokenization;

namespace LearningCurves.Analysis.Report;

/// <summary>The per-example table (examples.csv and examples.parquet): ids and token, run-averaged metrics, per-run
/// metrics, predictors, n-gram surprisals and log frequency, written in blocks of examples.</summary>
internal static class AnalysisTable
{
    /// <summary>Writes the table into <see cref="AnalyzeOptions.OutDir"/>.</summary>
    public static void Write(AnalyzeOptions o, EvalSet eval, TextTokenizer tokenizer, IReadOnlyList<string> runNames,
        Dictionary<string, double[]> averaged, Dictionary<string, double[][]> perRun, PredictorTable predictors, double[] logFreq, string[]? pos = null)
    {
        var columns = new List<TableColumn>
        {
            TableColumn.Long("example"), TableColumn.Long("sequence"), TableColumn.Long("position"), TableColumn.Long("token"),
            TableColumn.Text("token_text"),
        };
        if (pos is not null) columns.Add(TableColumn.Text("pos"));
        columns.AddRange(Metric.Names(Metric.All).Select(TableColumn.Double));
        foreach (var m in Metric.Names(Metric.PerRun))
        {
            foreach (var r in runNames) columns.Add(TableColumn.Double($"{m}.{r}"));
        }
        columns.AddRange(predictors.Columns.Select(TableColumn.Double));
        for (int n = 1; n <= predictors.NGramSurprisal.Length; n++) columns.Add(TableColumn.Double($"ngram{n}_surprisal"));
        columns.Add(TableColumn.Double("log10_frequency"));

        int examples = eval.Examples;
        using var w = new ExampleTableWriter(Path.Combine(o.OutDir, Analyzer.TableCsv), Path.Combine(o.OutDir, Analyzer.TableParquet), columns);
        for (int e0 = 0; e0 < examples; e0 += o.Block)
        {
            int n = Math.Min(o.Block, examples - e0);
            var block = new List<Array>(columns.Count);
            long[] L(Func<int, long> f) => Enumerable.Range(e0, n).Select(f).ToArray();
            double[] D(double[] src) => src.AsSpan(e0, n).ToArray();
            block.Add(L(i => i));
            block.Add(L(i => eval.Targets[2 * i]));
            block.Add(L(i => eval.Targets[2 * i + 1]));
            block.Add(L(i => eval.Tokens[eval.Targets[2 * i] * eval.SeqLen + eval.Targets[2 * i + 1]]));
            block.Add(Enumerable.Range(e0, n).Select(i => TokenText.Decode(tokenizer, [eval.Tokens[eval.Targets[2 * i] * eval.SeqLen + eval.Targets[2 * i + 1]]])).ToArray());
            if (pos is not null) block.Add(pos.AsSpan(e0, n).ToArray());
            foreach (var m in Metric.Names(Metric.All)) block.Add(D(averaged[m]));
            foreach (var m in Metric.Names(Metric.PerRun))
            {
                foreach (var r in perRun[m]) block.Add(D(r));
            }
            foreach (var c in predictors.Columns) block.Add(D(predictors[c]));
            foreach (var s in predictors.NGramSurprisal) block.Add(D(s));
            block.Add(D(logFreq));
            w.WriteBlock(block);
        }
        w.Complete();
    }
}
