using System.Text.Json;
using LearningCurves.Analysis.Phases;
using LearningCurves.Analysis.Statistics;

namespace LearningCurves.Analysis.Report;

/// <summary>
/// stats.json: the regressions (<see cref="RegressionJson"/>, the statsmodels layout), the metric correlations, the
/// learning phases and the repetition of the generated text, through <see cref="Utf8JsonWriter"/>; non-finite numbers
/// are written as null (<see cref="JsonNumbers"/>).
/// </summary>
internal static class StatsJson
{
    public static byte[] Build(RegressionReport? regression, MetricCorrelations corr, LearningPhases phases, GenerationView? gen)
    {
        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WritePropertyName("regression");
            if (regression is null) w.WriteNullValue();
            else RegressionJson.Write(regression, w);

            w.WriteStartObject("metric_correlations");
            w.WriteStrings("metrics", corr.Metrics);
            w.WriteMatrix("run_averaged", corr.RunAveraged);
            w.WriteMatrix("concatenated", corr.Concatenated);
            w.WriteStartObject("between_runs");
            for (int i = 0; i < corr.Metrics.Count; i++)
            {
                w.WriteStartObject(corr.Metrics[i]);
                w.WriteNumberOrNull("mean", corr.BetweenRuns[i].Mean);
                w.WriteNumberOrNull("sd", corr.BetweenRuns[i].Sd);
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteEndObject();

            w.WriteStartObject("learning_phases");
            w.WriteIntegers("steps", phases.Steps);
            w.WriteRows("ngram_r_mean", phases.MeanR);
            w.WriteRows("ngram_r_sd", phases.SdR);
            w.WriteNumbers("crossrun_r_mean", phases.CrossRunR);
            w.WriteNumbers("crossrun_r_sd", phases.CrossRunSd);
            w.WriteIntegers("peak_step", phases.PeakStep);
            w.WriteEndObject();

            w.WriteStartArray("generation");
            foreach (var g in gen?.Rows ?? [])
            {
                w.WriteStartObject();
                w.WriteString("run", g.Run);
                w.WriteNumber("step", g.Step);
                w.WriteNumber("prompts", g.Prompts);
                w.WriteNumbers("repeated_share", g.Repetition.RepeatedShare);
                w.WriteNumbers("distinct_n", g.Repetition.DistinctN);
                w.WriteNumberOrNull("longest_repeated_span", g.Repetition.LongestRepeatedSpan);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return buffer.ToArray();
    }
}
