using System.Text.Json;
using LearningCurves.Analysis.Statistics;
using LearningCurves.Tests.Common;
using Xunit;

namespace LearningCurves.Analysis.Tests;

/// <summary>The regression analysis against statsmodels 0.13.5 on the shared synthetic table (../shared/fixtures/ols).</summary>
public class OlsFixtureTests
{
    private const double RelTol = 1e-8;
    private int _numbers;

    [Fact]
    public void Regression_analysis_matches_statsmodels()
    {
        var dir = TestPaths.SharedFixture("ols");
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "expected.json")));
        var root = doc.RootElement;
        var order = root.GetProperty("predictor_order").EnumerateArray().Select(e => e.GetString()!).ToArray();
        var targets = root.GetProperty("targets").EnumerateObject().Select(p => p.Name).ToArray();
        var cols = NumericCsv.ReadColumns(Path.Combine(dir, "data.csv"), order.Concat(targets).ToArray());
        var report = RegressionAnalysis.Run(cols, targets, order);

        // Compare through the JSON we write, so the file format is checked with the numbers.
        using var ours = JsonDocument.Parse(RegressionJson.ToJson(report));
        var bad = new List<string>();
        _numbers = 0;
        Compare(root, ours.RootElement, "", bad);
        Assert.True(_numbers >= 60, $"only {_numbers} numbers compared");
        Assert.True(bad.Count == 0, $"{bad.Count} mismatches (rel tol {RelTol}); first: " + string.Join("; ", bad.Take(8)));
    }

    // Every key of the reference must be in ours with the same nesting; numbers within RelTol.
    private void Compare(JsonElement expected, JsonElement actual, string path, List<string> bad)
    {
        switch (expected.ValueKind)
        {
            case JsonValueKind.Object:
                if (actual.ValueKind != JsonValueKind.Object) { bad.Add($"{path}: not an object"); return; }
                foreach (var p in expected.EnumerateObject())
                {
                    if (!actual.TryGetProperty(p.Name, out var a)) { bad.Add($"{path}.{p.Name}: missing"); continue; }
                    Compare(p.Value, a, $"{path}.{p.Name}", bad);
                }
                break;
            case JsonValueKind.Array:
                if (actual.ValueKind != JsonValueKind.Array || actual.GetArrayLength() != expected.GetArrayLength())
                {
                    bad.Add($"{path}: array shape differs");
                    return;
                }
                for (int i = 0; i < expected.GetArrayLength(); i++) Compare(expected[i], actual[i], $"{path}[{i}]", bad);
                break;
            case JsonValueKind.Number:
                if (actual.ValueKind != JsonValueKind.Number) { bad.Add($"{path}: not a number"); return; }
                double e = expected.GetDouble(), v = actual.GetDouble();
                _numbers++;
                double rel = Math.Abs(v - e) / Math.Max(Math.Abs(e), double.Epsilon);
                if (rel > RelTol) bad.Add($"{path}: expected {e:R}, got {v:R} (rel {rel:E2})");
                break;
            default:
                if (expected.ToString() != actual.ToString()) bad.Add($"{path}: expected {expected}, got {actual}");
                break;
        }
    }
}
