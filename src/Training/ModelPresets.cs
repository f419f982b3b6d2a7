using LearningCurves.Engine;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.Model;
using LearningCurves.Formats;

namespace LearningCurves.Training;

/// <summary>Named small GPT-2 configurations for CPU pre-training (all with the GPT-2 vocabulary of 50,257).</summary>
public static class ModelPresets
{
    public const int Gpt2Vocab = 50257;

    private static ModelConfig Make(int layers, int embd, int heads, int ctx) => new()
    {
        VocabSize = Gpt2Vocab, MaxPositions = ctx, Embd = embd, Layers = layers, Heads = heads,
    };

    /// <summary>Preset name -> config. "demo" is what <c>learning-curves demo</c> trains.</summary>
    public static IReadOnlyDictionary<string, ModelConfig> All { get; } = new Dictionary<string, ModelConfig>(StringComparer.Ordinal)
    {
        ["demo"] = Make(2, 64, 4, 64),
        ["tiny"] = Make(2, 64, 4, 64),
        ["small"] = Make(4, 128, 4, 128),
    };

    /// <summary>A preset name, or a path to a Hugging Face config.json.</summary>
    public static ModelConfig Resolve(string nameOrFile)
    {
        ArgumentNullException.ThrowIfNull(nameOrFile);
        if (All.TryGetValue(nameOrFile, out var cfg)) return cfg;
        if (File.Exists(nameOrFile)) return HfConfig.Parse(File.ReadAllBytes(nameOrFile), nameOrFile);
        throw new UserError($"--config: '{nameOrFile}' is neither a preset ({string.Join(", ", All.Keys)}) nor an existing config.json");
    }
}
