using System.Text.Json.Nodes;
using LearningCurves.Formats.IO;
using LearningCurves.Formats.EvalSets;
using LearningCurves.Formats.Tokenization;
using LearningCurves.Formats;

namespace LearningCurves.Analysis.Report;

/// <summary>The training corpus `analyze` computes its predictors from (--train-ids or --train-text).</summary>
internal static class TrainingCorpus
{
    /// <summary>The training sequences: token ids (.npy (N, T) int32 or one sequence per line), or text files whose
    /// lines are tokenized and packed into eval-set-length sequences the paper's way (begin, line, sep, ...).</summary>
    public static List<int[]> Read(AnalyzeOptions o, TextTokenizer tokenizer, EvalSet eval)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(eval);
        if (o.TrainIds is { } ids)
        {
            if (!File.Exists(ids)) throw UserError.InFile(ids, "file not found");
            if (ids.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
            {
                var (data, shape) = Npy.ReadInt32(ids);
                if (shape.Length is not (1 or 2)) throw UserError.InFile(ids, "token ids must be a 1-D or 2-D int32 array");
                int len = shape.Length == 2 ? checked((int)shape[1]) : eval.SeqLen;
                if (len < 1) throw UserError.InFile(ids, "sequences are empty");
                var seqs = new List<int[]>();
                for (long s = 0; s + len <= data.Length; s += len) seqs.Add(data.AsSpan((int)s, len).ToArray());
                return seqs;
            }
            var list = TokenIdsFile.Read(ids);
            if (list.Count == 0) throw UserError.InFile(ids, "no token ids");
            return list;
        }
        // Pack like the eval set was packed (its begin/sep ids when recorded), else with end-of-text between lines.
        int sep = ManifestInt(eval, "sep_id") ?? tokenizer.EndOfTextId ?? 0;
        int begin = ManifestInt(eval, "begin_id") ?? sep;
        var lines = new List<int[]>();
        foreach (var file in o.TrainText)
        {
            if (!File.Exists(file)) throw UserError.InFile(file, "file not found");
            foreach (var line in File.ReadLines(file))
            {
                if (!string.IsNullOrWhiteSpace(line)) lines.Add(tokenizer.Encode(line));
            }
        }
        var packed = EvalSetBuilder.PackLines(lines, eval.SeqLen, begin, sep);
        if (packed.Count == 0)
        {
            // Too little text to fill one sequence: keep the lines themselves rather than nothing.
            packed = lines.Where(l => l.Length > 0).ToList();
        }
        if (packed.Count == 0) throw UserError.InFile(o.TrainText[0], "no training text");
        return packed;
    }

    private static int? ManifestInt(EvalSet eval, string key)
    {
        var node = eval.Manifest?[key];
        return node is JsonValue v && v.TryGetValue(out int i) ? i : null;
    }
}
