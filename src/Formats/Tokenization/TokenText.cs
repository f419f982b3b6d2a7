using System.Globalization;
using System.Text;

namespace LearningCurves.Formats.Tokenization;

/// <summary>Token ids to display text, tolerant of ids past the tokenizer's vocabulary (shown as &lt;id&gt;).</summary>
public static class TokenText
{
    public static string Decode(TextTokenizer tokenizer, IReadOnlyList<int> ids)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(ids);
        var sb = new StringBuilder();
        var run = new List<int>();
        foreach (int id in ids)
        {
            if (id >= 0 && id < tokenizer.VocabSize)
            {
                run.Add(id);
                continue;
            }
            sb.Append(tokenizer.Decode(run));
            run.Clear();
            sb.Append(CultureInfo.InvariantCulture, $"<{id}>");
        }
        sb.Append(tokenizer.Decode(run));
        return sb.ToString();
    }
}
