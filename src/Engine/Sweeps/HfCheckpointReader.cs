using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.Model;
using LearningCurves.Formats.IO;

namespace LearningCurves.Engine.Sweeps;

/// <summary>Reads Hugging Face GPT-2 checkpoint folders (config.json + safetensors) for the sweep.</summary>
public sealed class HfCheckpointReader : ICheckpointReader
{
    public ModelConfig ReadConfig(string dir) => HfConfig.LoadFromFolder(dir);

    public ModelWeights Load(string dir) => HfCheckpoint.Load(dir);

    public long BytesOnDisk(string dir)
    {
        if (!Directory.Exists(dir)) return 0;
        return Directory.EnumerateFiles(dir)
            .Where(f => TensorSources.IsWeightFile(Path.GetFileName(f)) || Path.GetFileName(f) is HfConfig.FileName)
            .Sum(AtomicFile.LengthFollowingLinks);
    }
}
