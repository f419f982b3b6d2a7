using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using LearningCurves.Engine;
using LearningCurves.Formats;

namespace LearningCurves.Training.Corpus;

/// <summary>What <see cref="CorpusBuilder.Build"/> wrote.</summary>
public sealed record CorpusSummary(int TrainDocuments, int HeldOutDocuments, int TrainLines, int HeldOutLines, long TrainChars, long HeldOutChars);

/// <summary>
/// Turns a folder of plain-text documents (one address per <c>*.txt</c> file, e.g. the State of the Union package's
/// data folder) into a training/held-out split: <c>train.txt</c> and <c>heldout.txt</c> hold one sentence per line,
/// documents never shared between them, and <c>manifest.json</c> records which document went where and why.
/// </summary>
public static partial class CorpusBuilder
{
    public const string TrainFile = "train.txt";
    public const string HeldOutFile = "heldout.txt";
    public const string ManifestFile = "manifest.json";

    // Audience reactions and editorial notes, in brackets or parentheses, e.g. "(Applause.)", "[Laughter]".
    [GeneratedRegex(@"[\(\[]\s*(?:applause|laughter|cheers|boos|missing text|p\.\s*\d+|sic)\s*\.?\s*[\)\]]", RegexOptions.IgnoreCase)]
    private static partial Regex MarkerRegex();

    [GeneratedRegex(@"\s+")]
    private static partial Regex SpaceRegex();

    // A sentence ends at . ! or ? (optionally followed by closing quotes/brackets) before whitespace and a capital,
    // digit or opening quote.
    [GeneratedRegex(@"(?<=[.!?][""')\]]?)\s+(?=[""'(\[]?[A-Z0-9])")]
    private static partial Regex SentenceBreakRegex();

    // Words whose final period does not end a sentence.
    private static readonly HashSet<string> Abbreviations = new(StringComparer.Ordinal)
    {
        "Mr.", "Mrs.", "Ms.", "Dr.", "St.", "Jr.", "Sr.", "Gen.", "Gov.", "Sen.", "Rep.", "Hon.", "Messrs.", "No.",
        "Nos.", "Vol.", "Art.", "Sec.", "Lt.", "Col.", "Capt.", "Maj.", "Adm.", "Prof.", "Rev.", "vs.", "v.", "etc.",
        "i.e.", "e.g.", "Jan.", "Feb.", "Mar.", "Apr.", "Aug.", "Sept.", "Sep.", "Oct.", "Nov.", "Dec.", "U.S.", "U.N.",
    };

    /// <summary>Removes audience/editorial markers, straightens typographic quotes and collapses whitespace.</summary>
    public static string Clean(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var s = MarkerRegex().Replace(text, " ");
        s = s.Replace('\u2019', '\'').Replace('\u2018', '\'').Replace('\u201C', '"').Replace('\u201D', '"');
        return SpaceRegex().Replace(s, " ").Trim();
    }

    /// <summary>Splits cleaned text into sentences (heuristic: punctuation before a capital, not after a known
    /// abbreviation or a single initial).</summary>
    public static List<string> Sentences(string cleaned)
    {
        ArgumentNullException.ThrowIfNull(cleaned);
        var result = new List<string>();
        var pending = new StringBuilder();
        foreach (var piece in SentenceBreakRegex().Split(cleaned))
        {
            if (piece.Length == 0) continue;
            if (pending.Length > 0) pending.Append(' ');
            pending.Append(piece);
            int lastSpace = piece.LastIndexOf(' ');
            var lastWord = piece[(lastSpace + 1)..];
            bool initial = lastWord.Length == 2 && char.IsUpper(lastWord[0]) && lastWord[1] == '.';
            if (Abbreviations.Contains(lastWord) || initial) continue;
            result.Add(pending.ToString());
            pending.Clear();
        }
        if (pending.Length > 0) result.Add(pending.ToString());
        return result;
    }

    /// <summary>Whether document <paramref name="index"/> (0-based, in sorted file-name order) is held out:
    /// every <paramref name="every"/>-th one, i.e. indices every-1, 2*every-1, ...</summary>
    public static bool IsHeldOut(int index, int every) => every > 0 && index % every == every - 1;

    /// <summary>
    /// Reads every <c>*.txt</c> in <paramref name="sourceDir"/> (sorted by name, which is chronological for the
    /// SOTU files), cleans them, splits by document, and writes train.txt, heldout.txt and manifest.json into
    /// <paramref name="outDir"/> (each via a temporary file and rename; the manifest last).
    /// </summary>
    public static CorpusSummary Build(string sourceDir, string outDir, int heldOutEvery = 10, string? sourceDescription = null)
    {
        ArgumentNullException.ThrowIfNull(sourceDir);
        ArgumentNullException.ThrowIfNull(outDir);
        if (heldOutEvery < 2) throw new UserError($"--heldout-every must be at least 2 (got {heldOutEvery})");
        if (!Directory.Exists(sourceDir)) throw UserError.InFile(sourceDir, "corpus source folder does not exist (run: dotnet pwsh ./build.ps1 setup)");
        var files = Directory.GetFiles(sourceDir, "*.txt").OrderBy(f => Path.GetFileName(f), StringComparer.Ordinal).ToArray();
        if (files.Length < heldOutEvery) throw UserError.InFile(sourceDir, $"only {files.Length} .txt documents; need at least {heldOutEvery} to hold one out");
        Directory.CreateDirectory(outDir);

        var train = new StringBuilder();
        var held = new StringBuilder();
        var docs = new JsonArray();
        int trainDocs = 0, heldDocs = 0, trainLines = 0, heldLines = 0;
        long trainChars = 0, heldChars = 0;
        for (int i = 0; i < files.Length; i++)
        {
            string raw = File.ReadAllText(files[i], Encoding.UTF8);
            var sentences = Sentences(Clean(raw));
            if (sentences.Count == 0) throw UserError.InFile(files[i], "document is empty after cleaning");
            bool isHeld = IsHeldOut(i, heldOutEvery);
            var sb = isHeld ? held : train;
            int firstLine = isHeld ? heldLines : trainLines;
            long chars = 0;
            foreach (var s in sentences)
            {
                sb.Append(s).Append('\n');
                chars += s.Length;
            }
            if (isHeld) { heldDocs++; heldLines += sentences.Count; heldChars += chars; }
            else { trainDocs++; trainLines += sentences.Count; trainChars += chars; }
            docs.Add(new JsonObject
            {
                ["file"] = Path.GetFileName(files[i]),
                ["split"] = isHeld ? "heldout" : "train",
                ["first_line"] = firstLine,
                ["lines"] = sentences.Count,
                ["chars"] = chars,
                ["sha256"] = Sha256Hex(Encoding.UTF8.GetBytes(raw)),
            });
        }

        WriteAtomic(Path.Combine(outDir, TrainFile), train.ToString());
        WriteAtomic(Path.Combine(outDir, HeldOutFile), held.ToString());
        var manifest = new JsonObject
        {
            ["format"] = "learning-curves corpus v1",
            ["source"] = sourceDescription ?? Path.GetFullPath(sourceDir),
            ["split_rule"] = $"documents sorted by file name; every {heldOutEvery}th (0-based index % {heldOutEvery} == {heldOutEvery - 1}) held out",
            ["cleaning"] = "removed (Applause.)/[Laughter]-style markers, straightened typographic quotes, collapsed whitespace; one sentence per line",
            ["heldout_every"] = heldOutEvery,
            ["train"] = new JsonObject { ["file"] = TrainFile, ["documents"] = trainDocs, ["lines"] = trainLines, ["chars"] = trainChars, ["sha256"] = Sha256Hex(Encoding.UTF8.GetBytes(train.ToString())) },
            ["heldout"] = new JsonObject { ["file"] = HeldOutFile, ["documents"] = heldDocs, ["lines"] = heldLines, ["chars"] = heldChars, ["sha256"] = Sha256Hex(Encoding.UTF8.GetBytes(held.ToString())) },
            ["documents"] = docs,
        };
        WriteAtomic(Path.Combine(outDir, ManifestFile), manifest.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return new CorpusSummary(trainDocs, heldDocs, trainLines, heldLines, trainChars, heldChars);
    }

    /// <summary>The non-empty lines of a corpus split file, checking the corpus folder is complete.</summary>
    public static string[] ReadLines(string corpusDir, string file)
    {
        ArgumentNullException.ThrowIfNull(corpusDir);
        if (!File.Exists(Path.Combine(corpusDir, ManifestFile)))
            throw UserError.InFile(corpusDir, "not a corpus folder (no manifest.json; make one with: learning-curves corpus)");
        var path = Path.Combine(corpusDir, file);
        if (!File.Exists(path)) throw UserError.InFile(path, "corpus file is missing");
        var lines = File.ReadAllLines(path, Encoding.UTF8).Where(l => l.Length > 0).ToArray();
        if (lines.Length == 0) throw UserError.InFile(path, "corpus file is empty");
        return lines;
    }

    internal static string Sha256Hex(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));

    /// <summary>Writes text to path through a temporary file in the same folder and a rename.</summary>
    public static void WriteAtomic(string path, string text)
    {
        var tmp = path + ".tmp-" + Environment.ProcessId;
        File.WriteAllText(tmp, text, new UTF8Encoding(false));
        File.Move(tmp, path, overwrite: true);
    }
}
