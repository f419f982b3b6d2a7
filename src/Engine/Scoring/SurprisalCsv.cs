using System.Globalization;
using System.Text;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.Model;
using LearningCurves.Formats.IO;
using LearningCurves.Formats;

namespace LearningCurves.Engine.Scoring;

/// <summary>
/// Scores sequences in batches and writes one CSV row per scored token: <c>sequence,position,token,surprisal_bits</c>
/// (sequence 0-based in input order; position the 0-based index of the target token, 1..len-1). The file appears only
/// when complete.
/// </summary>
public static class SurprisalCsv
{
    public const string Header = "sequence,position,token,surprisal_bits";

    /// <summary>Writes the CSV for <paramref name="sequences"/> to <paramref name="outPath"/>; returns the row count.</summary>
    public static long Write(string outPath, DecoderModel model, IReadOnlyList<int[]> sequences, int batchSize = 32)
    {
        ArgumentNullException.ThrowIfNull(outPath);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(sequences);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        long rows = 0;
        AtomicFile.Write(outPath, stream =>
        {
            using var w = new StreamWriter(stream, new UTF8Encoding(false), 1 << 16, leaveOpen: true) { NewLine = "\n" };
            w.WriteLine(Header);
            var line = new StringBuilder();
            for (int start = 0; start < sequences.Count; start += batchSize)
            {
                var batch = new List<int[]>();
                // Sequences of one token have nothing to score; keep them out of the batch.
                var index = new List<int>();
                for (int s = start; s < Math.Min(sequences.Count, start + batchSize); s++)
                {
                    if (sequences[s].Length < 2) continue;
                    batch.Add(sequences[s]);
                    index.Add(s);
                }
                if (batch.Count == 0) continue;
                var scores = model.ScoreAll(batch);
                for (int k = 0; k < batch.Count; k++)
                {
                    var seq = batch[k];
                    for (int p = 1; p < seq.Length; p++)
                    {
                        line.Clear();
                        line.Append(index[k].ToString(CultureInfo.InvariantCulture)).Append(',')
                            .Append(p.ToString(CultureInfo.InvariantCulture)).Append(',')
                            .Append(seq[p].ToString(CultureInfo.InvariantCulture)).Append(',')
                            .Append(scores[k][p - 1].ToString("R", CultureInfo.InvariantCulture));
                        w.WriteLine(line);
                        rows++;
                    }
                }
            }
            w.Flush();
        });
        return rows;
    }

    /// <summary>Reads a surprisal CSV back: (sequence, position, token, surprisal) per row; a malformed row is an error naming the file.</summary>
    public static List<(int Sequence, int Position, int Token, float Surprisal)> Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var r = new StreamReader(path);
        var header = r.ReadLine();
        if (header != Header) throw UserError.InFile(path, $"expected the header '{Header}'");
        var result = new List<(int, int, int, float)>();
        int lineNo = 1;
        string? line;
        while ((line = r.ReadLine()) is not null)
        {
            lineNo++;
            var f = line.Split(',');
            if (f.Length != 4
                || !int.TryParse(f[0], NumberStyles.None, CultureInfo.InvariantCulture, out int s)
                || !int.TryParse(f[1], NumberStyles.None, CultureInfo.InvariantCulture, out int p)
                || !int.TryParse(f[2], NumberStyles.None, CultureInfo.InvariantCulture, out int t)
                || !float.TryParse(f[3], NumberStyles.Float, CultureInfo.InvariantCulture, out float v))
                throw UserError.InFile(path, $"line {lineNo}: expected sequence,position,token,surprisal_bits");
            result.Add((s, p, t, v));
        }
        return result;
    }
}
