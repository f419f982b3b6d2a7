using System.Text.Json;
using LearningCurves.Formats.IO;

namespace LearningCurves.Analysis.Statistics;

/// <summary>
/// Writes a <see cref="RegressionReport"/> as JSON with the keys and nesting of the statsmodels reference
/// (shared fixture ols/expected.json): predictor_order; targets.T.{full, single, sequential}; vif. Each target also
/// carries nobs, single_detail (bse, t, R^2 of every single-predictor model) and residualized (each other predictor
/// fitted on the residuals of target ~ first predictor). Non-finite numbers are written as null.
/// </summary>
public static class RegressionJson
{
    public static void Write(RegressionReport report, Utf8JsonWriter w)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(w);
        w.WriteStartObject();
        w.WriteStrings("predictor_order", report.PredictorOrder);
        w.WriteStartObject("targets");
        foreach (var t in report.Targets)
        {
            w.WriteStartObject(t.Target);
            w.WriteNumber("nobs", t.N);
            w.WriteStartObject("full");
            WriteNamed(w, "params", t.Full.Names, t.Full.Params);
            WriteNamed(w, "bse", t.Full.Names, t.Full.StdErrors);
            WriteNamed(w, "tvalues", t.Full.Names, t.Full.TValues);
            Number(w, "rsquared", t.Full.RSquared);
            Number(w, "rsquared_adj", t.Full.RSquaredAdj);
            Number(w, "llf", t.Full.LogLikelihood);
            w.WriteEndObject();

            w.WriteStartObject("single");
            foreach (var (name, fit) in t.Single) Number(w, name, fit.Params[1]);
            w.WriteEndObject();
            w.WriteStartObject("single_detail");
            foreach (var (name, fit) in t.Single) Slope(w, name, fit);
            w.WriteEndObject();

            w.WriteStartArray("sequential");
            foreach (var s in t.Sequential)
            {
                w.WriteStartObject();
                w.WriteString("added", s.Added);
                Number(w, "rsquared_adj", s.RSquaredAdj);
                Number(w, "llf", s.LogLikelihood);
                Number(w, "lr_chi2", s.LrChi2);
                w.WriteNumber("df", s.Df);
                Number(w, "p", s.P);
                w.WriteEndObject();
            }
            w.WriteEndArray();

            w.WriteStartObject("residualized");
            w.WriteString("baseline", t.Baseline);
            w.WriteStartObject("fits");
            foreach (var (name, fit) in t.OnBaselineResiduals) Slope(w, name, fit);
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        w.WriteEndObject();
        w.WriteStartObject("vif");
        foreach (var (name, v) in report.Vif) Number(w, name, v);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>The report as an indented JSON string.</summary>
    public static string ToJson(RegressionReport report)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true })) Write(report, w);
        return System.Text.Encoding.UTF8.GetString(ms.ToArray());
    }

    /// <summary>Writes the report to <paramref name="path"/> atomically (temporary file, then rename).</summary>
    public static void WriteFile(RegressionReport report, string path) => AtomicFile.WriteAllText(path, ToJson(report) + "\n");

    private static void Slope(Utf8JsonWriter w, string name, OlsFit fit)
    {
        w.WriteStartObject(name);
        Number(w, "param", fit.Params[1]);
        Number(w, "bse", fit.StdErrors[1]);
        Number(w, "tvalue", fit.TValues[1]);
        Number(w, "rsquared", fit.RSquared);
        w.WriteEndObject();
    }

    private static void WriteNamed(Utf8JsonWriter w, string key, IReadOnlyList<string> names, double[] values)
    {
        w.WriteStartObject(key);
        for (int i = 0; i < names.Count; i++) Number(w, names[i], values[i]);
        w.WriteEndObject();
    }

    private static void Number(Utf8JsonWriter w, string key, double v) => w.WriteNumberOrNull(key, v);
}
