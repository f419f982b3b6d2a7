using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using LearningCurves.Analysis.Generation;
using LearningCurves.Engine;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.Generation;
using LearningCurves.Engine.Model;
using LearningCurves.Kernels;
using LearningCurves.Runner.Cli;
using LearningCurves.Formats.IO;
using LearningCurves.Formats.Tokenization;
using LearningCurves.Formats;

namespace LearningCurves.Runner.Commands;

/// <summary>`learning-curves generate`: continues prompts with one checkpoint and measures how repetitive the text is.</summary>
public sealed class GenerateCommand : ICommand
{
    public string Name => "generate";

    public string Usage => "generate --model DIR --prompts FILE [--prompts-format text|ids] [--temperature 0.3] [--max-tokens 128] " +
                           "[--seed S] [--out FILE.jsonl] [--backend auto|cpu|cuda] [--precision fp32|tf32|bf16]";

    public IReadOnlyList<CliOption> Options { get; } =
    [
        SharedOptions.Model,
        new("prompts", "FILE", "prompts, one per line (required)"),
        new("prompts-format", "text|ids", "prompt lines are text (tokenized) or token ids (default text)"),
        new("temperature", "T", "sampling temperature; 0 is greedy (default 0.3)"),
        SharedOptions.MaxTokens,
        SharedOptions.SamplingSeed,
        new("out", "FILE.jsonl", "write one JSON line per prompt there (default: standard output)"),
        .. BackendChoice.Options("auto"),
    ];

    public int Run(string[] args)
    {
        var a = Args.Parse(Name, Options, args);
        string modelDir = a.Require("model");
        string promptsPath = a.Require("prompts");
        string format = a.GetChoice("prompts-format", "text", "text", "ids");
        double temperature = a.GetDouble("temperature", 0.3);
        int maxTokens = a.GetInt("max-tokens", 128, 0, 1 << 20);
        int seed = SharedOptions.ReadSamplingSeed(a);
        string? outPath = a.Get("out");
        var (backendName, precision) = BackendChoice.Read(a, "auto");
        a.RejectUnknown();
        if (temperature < 0) throw new UserError($"--temperature must be >= 0 (got {temperature.ToString(CultureInfo.InvariantCulture)})");
        if (!File.Exists(promptsPath)) throw UserError.InFile(promptsPath, "file not found");

        var cfg = HfConfig.LoadFromFolder(modelDir);
        var tokenizer = TextTokenizer.Load(modelDir);
        var (prompts, texts) = ReadPrompts(promptsPath, format, tokenizer, cfg);

        using var backend = BackendFactory.Create(backendName, precision, Console.Error);
        // On a GPU the weights stream from the mapped files (float32 host weights on the CPU); before anything is
        // uploaded, the weights and the longest sequence generated must fit the card.
        int longest = Math.Min(cfg.MaxPositions, prompts.Max(p => p.Length) + maxTokens);
        using var gen = DecoderModel.Open(backend, modelDir, (c, untied) => BatchSizing.CheckFits(backend, c, untied, Math.Max(longest, 1), modelDir));
        var options = new GenerationOptions { Temperature = temperature, MaxTokens = maxTokens, Seed = seed };
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var outputs = gen.Generate(prompts, options);
        double secs = sw.Elapsed.TotalSeconds;

        var stats = outputs.Select(o => TextRepetition.Measure(o)).ToList();
        var sb = new StringBuilder();
        for (int i = 0; i < prompts.Count; i++)
        {
            var line = new Dictionary<string, object?>
            {
                ["prompt"] = texts[i],
                ["prompt_ids"] = prompts[i],
                ["ids"] = outputs[i],
                ["text"] = TokenText.Decode(tokenizer, outputs[i]),
                ["repeated_share"] = stats[i].RepeatedShare.Select(NullIfNaN).ToArray(),
                ["distinct_n"] = stats[i].DistinctN.Select(NullIfNaN).ToArray(),
                ["longest_repeated_span"] = stats[i].LongestRepeatedSpan,
            };
            sb.Append(JsonSerializer.Serialize(line, JsonLines)).Append('\n');
        }
        if (outPath is null) Console.Out.Write(sb.ToString());
        else AtomicFile.WriteAllText(outPath, sb.ToString());

        var mean = TextRepetition.Mean(stats);
        long tokens = outputs.Sum(o => (long)o.Length);
        string reps = string.Join('/', mean.RepeatedShare.Select(v => v.ToString("F2", CultureInfo.InvariantCulture)));
        string dest = outPath is null ? "" : $" -> {outPath}";
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"generated {tokens} tokens for {prompts.Count} prompts in {secs:F2} s ({tokens / Math.Max(secs, 1e-9):F0} tokens/s); repeated 1..4-grams {reps}, distinct-2 {mean.DistinctN[1]:F2}, longest repeated span {mean.LongestRepeatedSpan:F1}{dest}"));
        return 0;
    }

    /// <summary>One prompt per non-blank line, as text (tokenized with the model's tokenizer) or token ids. Prompts
    /// longer than the limit keep their last tokens: the end of a prompt is what the continuation follows.</summary>
    internal static (List<int[]> Ids, List<string> Texts) ReadPrompts(string path, string format, TextTokenizer tokenizer, ModelConfig cfg)
    {
        var ids = new List<int[]>();
        var texts = new List<string>();
        if (format == "ids")
        {
            foreach (var p in TokenIdsFile.Read(path))
            {
                ids.Add(p);
                texts.Add(TokenText.Decode(tokenizer, p));
            }
        }
        else
        {
            int lineNo = 0;
            foreach (var line in File.ReadLines(path))
            {
                lineNo++;
                if (string.IsNullOrWhiteSpace(line)) continue;
                var p = tokenizer.Encode(line);
                if (p.Length == 0) throw UserError.InFile(path, $"line {lineNo}: the prompt has no tokens");
                // The begin token the tokenizer's configuration asks for (LLaMA's <s>), as transformers' generate gets it.
                ids.Add(tokenizer.Begin.Add ? [tokenizer.Begin.Id!.Value, .. p] : p);
                texts.Add(line);
            }
        }
        if (ids.Count == 0) throw UserError.InFile(path, "no prompts (the file has no non-blank line)");
        int cut = 0;
        for (int i = 0; i < ids.Count; i++)
        {
            if (ids[i].Length > TrainingGeneration.MaxPromptTokens)
            {
                ids[i] = ids[i][^TrainingGeneration.MaxPromptTokens..];
                cut++;
            }
            foreach (int t in ids[i])
            {
                if ((uint)t >= (uint)cfg.VocabSize)
                    throw UserError.InFile(path, $"prompt {i + 1}: token id {t} is outside the model's vocabulary (0..{cfg.VocabSize - 1})");
            }
        }
        if (cut > 0) Console.Error.WriteLine($"{cut} prompt(s) longer than {TrainingGeneration.MaxPromptTokens} tokens keep their last {TrainingGeneration.MaxPromptTokens}");
        return (ids, texts);
    }

    // Relaxed escaping keeps generated text readable in the file (it is data, never embedded in HTML unescaped).
    private static readonly JsonSerializerOptions JsonLines = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static double? NullIfNaN(double v) => double.IsNaN(v) ? null : v;
}
