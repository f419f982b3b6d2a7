using System.Text.Encodings.Web;
using System.Text.Json;
using LearningCurves.Formats.IO;

namespace LearningCurves.Formats.Runs;

/// <summary>
/// One prompt continued at one checkpoint of a run: one line of <c>generations.jsonl</c>. Ids are token ids; the texts
/// are their decoding (ids past the tokenizer's vocabulary shown as &lt;id&gt;). <see cref="Ids"/> holds the new
/// tokens only, not the prompt.
/// </summary>
public sealed record GenerationRecord(string Run, long Step, string Checkpoint, int Prompt, int[] PromptIds, string PromptText,
    int[] Ids, string Text, double Temperature, int MaxTokens, int Seed);

/// <summary>
/// <c>OUT/NAME/generations.jsonl</c>, the text generated along training (the engine's generation stage writes it,
/// Analysis reads it): one JSON object per line, in run order, then step order, then prompt order, with the keys
/// run, step, checkpoint, prompt (0-based index), prompt_ids, prompt_text, ids, text, temperature, max_tokens, seed.
/// Written atomically: the file is complete or absent.
/// </summary>
public static class GenerationsFile
{
    // Relaxed escaping keeps generated text readable in the file (it is data, never embedded in HTML unescaped).
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static void Write(string path, IEnumerable<GenerationRecord> records)
    {
        ArgumentNullException.ThrowIfNull(records);
        AtomicFile.Write(path, s =>
        {
            foreach (var r in records)
            {
                using (var w = new Utf8JsonWriter(s, WriterOptions))
                {
                    w.WriteStartObject();
                    w.WriteString("run", r.Run);
                    w.WriteNumber("step", r.Step);
                    w.WriteString("checkpoint", r.Checkpoint);
                    w.WriteNumber("prompt", r.Prompt);
                    Ints(w, "prompt_ids", r.PromptIds);
                    w.WriteString("prompt_text", r.PromptText);
                    Ints(w, "ids", r.Ids);
                    w.WriteString("text", r.Text);
                    w.WriteNumber("temperature", r.Temperature);
                    w.WriteNumber("max_tokens", r.MaxTokens);
                    w.WriteNumber("seed", r.Seed);
                    w.WriteEndObject();
                }
                s.WriteByte((byte)'\n');
            }
        });
    }

    /// <summary>Every record of <paramref name="path"/>; a malformed line is a <see cref="UserError"/> naming the file and line.</summary>
    public static List<GenerationRecord> Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw UserError.InFile(path, "no such file");
        var records = new List<GenerationRecord>();
        int lineNo = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                using var doc = JsonDocument.Parse(line);
                var o = doc.RootElement;
                records.Add(new GenerationRecord(o.GetProperty("run").GetString()!, o.GetProperty("step").GetInt64(),
                    o.GetProperty("checkpoint").GetString()!, o.GetProperty("prompt").GetInt32(), IntArray(o.GetProperty("prompt_ids")),
                    o.GetProperty("prompt_text").GetString()!, IntArray(o.GetProperty("ids")), o.GetProperty("text").GetString()!,
                    o.GetProperty("temperature").GetDouble(), o.GetProperty("max_tokens").GetInt32(), o.GetProperty("seed").GetInt32()));
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
            {
                throw UserError.InFile(path, $"line {lineNo}: not a generation record ({e.Message.Split('\n')[0]})");
            }
        }
        return records;
    }

    private static void Ints(Utf8JsonWriter w, string name, int[] values)
    {
        w.WriteStartArray(name);
        foreach (int v in values) w.WriteNumberValue(v);
        w.WriteEndArray();
    }

    private static int[] IntArray(JsonElement e)
    {
        var a = new int[e.GetArrayLength()];
        int i = 0;
        foreach (var v in e.EnumerateArray()) a[i++] = v.GetInt32();
        return a;
    }
}
