using System.Globalization;
using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.Model;
using LearningCurves.Kernels;
using LearningCurves.Runner.Cli;
using LearningCurves.Formats.Tokenization;

namespace LearningCurves.Runner.Commands;

/// <summary>`learning-curves inspect --model DIR`: config, parameter count, dtypes and the tensor table of a checkpoint.</summary>
public sealed class InspectCommand : ICommand
{
    public string Name => "inspect";

    public string Usage => "inspect --model DIR";

    public IReadOnlyList<CliOption> Options { get; } =
    [
        new("model", "DIR", "checkpoint folder to describe (required)"),
    ];

    public int Run(string[] args)
    {
        var a = Args.Parse(Name, Options, args);
        var dir = a.Require("model");
        a.RejectUnknown();

        var cfg = HfConfig.LoadFromFolder(dir);
        using var ck = TensorSources.Open(dir);
        // Headers only: every name, shape and dtype checked against the config (so a folder that inspects clean also
        // scores), no tensor data read: a 7B checkpoint inspects in the time of its headers.
        var (_, _, hasHead, _) = HfCheckpoint.Resolve(ck, cfg, dir);
        bool untied = hasHead && !cfg.TieWordEmbeddings;
        var o = Console.Out;
        var inv = CultureInfo.InvariantCulture;

        o.WriteLine($"model: {Path.GetFullPath(dir)}");
        var tensors = ck.Names.Select(ck.Meta).ToList();
        var files = tensors.Select(t => t.File).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        string format = ck is TorchCheckpoint ? "torch.save zip" : "safetensors";
        if (cfg.LlamaFamilySummary() is { } llama) o.WriteLine($"architecture: {llama}");
        else o.WriteLine(cfg.Architecture == LearningCurves.Engine.Model.Architecture.GptNeoX
            ? $"architecture: GPT-NeoX (model_type \"gpt_neox\", GPTNeoXForCausalLM): rotary on {cfg.RotaryDims} of {cfg.HeadSize} head dims (rotary_pct {cfg.RotaryPct.ToString(inv)}, base {cfg.RotaryBase.ToString(inv)}), {(cfg.ParallelResidual ? "parallel" : "sequential")} residual, {(cfg.Gelu == LearningCurves.Engine.Model.GeluKind.Erf ? "exact (erf)" : "tanh")} GELU"
            : "architecture: GPT-2 (model_type \"gpt2\", GPT2LMHeadModel)");
        o.WriteLine($"weights: {string.Join(", ", files.Select(Path.GetFileName))} ({format})");
        o.WriteLine("config:");
        o.WriteLine($"  vocab_size                      {cfg.VocabSize}");
        o.WriteLine($"  n_positions                     {cfg.MaxPositions}");
        o.WriteLine($"  n_embd                          {cfg.Embd}");
        o.WriteLine($"  n_layer                         {cfg.Layers}");
        o.WriteLine($"  n_head                          {cfg.Heads} (head size {cfg.HeadSize})");
        if (cfg.IsLlamaFamily) o.WriteLine($"  num_key_value_heads             {cfg.KvHeadCount}{(cfg.HeadDim > 0 ? $" (head_dim {cfg.HeadDim})" : "")}");
        o.WriteLine($"  n_inner                         {(cfg.Inner > 0 ? cfg.Inner.ToString(inv) : "null")} (MLP width {cfg.InnerSize})");
        o.WriteLine($"  layer_norm_epsilon              {cfg.LayerNormEpsilon.ToString("R", inv)}");
        o.WriteLine($"  scale_attn_weights              {Lower(cfg.ScaleAttnWeights)}");
        o.WriteLine($"  scale_attn_by_inverse_layer_idx {Lower(cfg.ScaleAttnByInverseLayerIdx)}");
        o.WriteLine($"  tie_word_embeddings             {Lower(cfg.TieWordEmbeddings)}");
        o.WriteLine($"  head                            {(!untied ? "tied to the token embedding" : LearningCurves.Engine.Model.TensorTable.HeadName(cfg.Architecture))}");

        bool IsBuffer(string n) => LearningCurves.Engine.Model.TensorTable.IsBuffer(cfg.Architecture, n);
        long stored = tensors.Where(t => !IsBuffer(t.Name)).Sum(t => t.ElementCount);
        o.WriteLine($"parameters: {stored.ToString("N0", inv)} stored ({cfg.ParameterCount(untied).ToString("N0", inv)} from the config)");
        var byType = tensors.GroupBy(t => t.DType)
            .Select(g => $"{g.Key} x{g.Count()} ({g.Sum(t => t.ElementCount * SafeTensorsFile.DTypeSize(t.DType)).ToString("N0", inv)} bytes)");
        o.WriteLine($"dtypes: {string.Join(", ", byType)}");
        var tok = File.Exists(Path.Combine(dir, Gpt2Tokenizer.VocabFile)) || File.Exists(Path.Combine(dir, Gpt2Tokenizer.MergesFile)) ? "vocab.json + merges.txt"
            : File.Exists(Path.Combine(dir, Gpt2Tokenizer.TokenizerJsonFile)) ? "tokenizer.json"
            : TextTokenizer.SentencePieceModelIn(dir) is string sp ? $"{Path.GetFileName(sp)} (SentencePiece)"
            : "none in the folder (built-in GPT-2 for --text)";
        o.WriteLine($"tokenizer: {tok}");

        o.WriteLine(MemoryPlan(cfg, untied, tensors.Select(t => t.File).Distinct(StringComparer.Ordinal).Max(f => new FileInfo(f).Length)));

        int nameWidth = Math.Max(4, tensors.Max(t => t.Name.Length));
        bool sharded = files.Count > 1;
        o.WriteLine();
        o.WriteLine($"{"name".PadRight(nameWidth)}  {"dtype",-5}  {"shape",-16}  {"elements",12}{(sharded ? "  file" : "")}");
        foreach (var t in tensors.OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            var note = IsBuffer(t.Name) ? "  (buffer, ignored)" : "";
            o.WriteLine($"{t.Name.PadRight(nameWidth)}  {t.DType,-5}  {t.ShapeText,-16}  {t.ElementCount,12}{(sharded ? "  " + Path.GetFileName(t.File) : "")}{note}");
        }
        return 0;
    }

    /// <summary>Card sizes the memory plan reports a batch for (GiB): 24 (L4, A10, RTX 4090), 40 and 80 (A100, H100).</summary>
    private static readonly int[] CardGiB = [24, 40, 80];

    /// <summary>What the model needs on a GPU in each precision, counted from the model's own buffer plan: the weights'
    /// device bytes, the activations of one sequence of n_positions tokens (at most 2048), and the largest batch on
    /// cards of <see cref="CardGiB"/> (none: the weights do not fit); then how loading goes on the host.</summary>
    private static string MemoryPlan(ModelConfig cfg, bool untied, long largestFile)
    {
        int t = Math.Min(cfg.MaxPositions, 2048);
        var sb = new System.Text.StringBuilder();
        sb.AppendLine($"memory plan (GPU; activations per sequence of {t} tokens; batch that fits a card of {string.Join(" / ", CardGiB)} GiB):");
        foreach (var p in new[] { Precision.Fp32, Precision.Bf16 })
        {
            long w = BatchSizing.WeightBytes(cfg, p, untied);
            long per = BatchSizing.BytesPerSequence(cfg, t, p);
            var fits = CardGiB.Select(g => BatchSizing.FitOrZeroBeforeUpload((long)g << 30, cfg, untied, t, p))
                .Select(b => b == 0 ? "none" : b.ToString(CultureInfo.InvariantCulture));
            sb.AppendLine($"  {(p == Precision.Fp32 ? "fp32/tf32" : "bf16"),-9}  weights {Gib(w)}, per sequence {Gib(per)}, batch {string.Join(" / ", fits)}");
        }
        sb.Append($"  loading on a GPU streams tensor by tensor from the mapped files (largest {Gib(largestFile)}); on the CPU the weights are float32 in host memory ({Gib(cfg.ParameterCount(untied) * 4)})");
        return sb.ToString();
    }

    private static string Gib(long bytes) => bytes >= 1L << 30 ? $"{bytes / (double)(1L << 30):F2} GiB" : $"{bytes / (double)(1L << 20):F2} MiB";

    private static string Lower(bool b) => b ? "true" : "false";
}
