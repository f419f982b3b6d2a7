using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.Model;
using LearningCurves.Formats.IO;

namespace LearningCurves.Engine.Sweeps;

/// <summary>Reads Hugging Face checkpoint folders (config.json + safetensors or torch.save files) for the sweep.</summary>
public sealed class HfCheckpointReader : ICheckpointReader
{
    public ModelConfig ReadConfig(string dir) => HfConfig.LoadFromFolder(dir);

    public ModelWeights Load(string dir) => HfCheckpoint.Load(dir);

    public CheckpointTensors Open(string dir) => CheckpointTensors.Open(dir);

    public long BytesOnDisk(string dir)
    {
        if (!Directory.Exists(dir)) return 0;
        return Directory.EnumerateFiles(dir)
            .Where(f => TensorSources.IsWeightFile(Path.GetFileName(f)) || Path.GetFileName(f) is HfConfig.FileName)
            .Sum(AtomicFile.LengthFollowingLinks);
    }
}
