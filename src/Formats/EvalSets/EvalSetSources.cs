using LearningCurves.Formats;
using LearningCurves.Formats.Tokenization;
using LearningCurves.Formats.Runs;

namespace LearningCurves.Formats.EvalSets;

/// <summary>Where the later stages find a sweep's eval set and the tokenizer that made it.</summary>
public static class EvalSetSources
{
    /// <summary><paramref name="given"/>, else the first eval set path the run manifests record.</summary>
    public static string EvalSetDir(string sweepDir, IEnumerable<RunManifest?> manifests, string? given)
    {
        ArgumentNullException.ThrowIfNull(manifests);
        return given ?? manifests.Select(m => m?.EvalSetPath).FirstOrDefault(p => p is not null)
            ?? throw UserError.InFile(sweepDir, "the run manifests do not name the eval set; give --eval-set DIR");
    }

    /// <summary>The tokenizer of <paramref name="tokenizerDir"/> when given; else the one the eval set was made with,
    /// when its manifest names a folder ("tokenizer_dir") or files ("VOCAB + MERGES", or one tokenizer.json /
    /// tokenizer.model) that still exist; otherwise the built-in GPT-2 tokenizer.</summary>
    public static TextTokenizer Tokenizer(EvalSet eval, string? tokenizerDir)
    {
        ArgumentNullException.ThrowIfNull(eval);
        if (tokenizerDir is not null) return TextTokenizer.Load(tokenizerDir);
        string? dir = eval.Manifest?["tokenizer_dir"]?.GetValue<string>();
        if (dir is not null && Directory.Exists(dir)) return TextTokenizer.Load(dir);
        string? source = eval.Manifest?["tokenizer"]?.GetValue<string>();
        if (source is not null && File.Exists(source) && Path.GetDirectoryName(Path.GetFullPath(source)) is string parent)
            return TextTokenizer.Load(parent);
        if (source is not null)
        {
            var parts = source.Split(" + ", StringSplitOptions.TrimEntries);
            if (parts.Length == 2 && File.Exists(parts[0]) && File.Exists(parts[1])) return Gpt2Tokenizer.FromFiles(parts[0], parts[1]);
        }
        return Gpt2Tokenizer.Default;
    }
}
