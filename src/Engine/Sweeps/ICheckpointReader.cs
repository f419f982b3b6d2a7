using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.Model;

namespace LearningCurves.Engine.Sweeps;

/// <summary>How the sweep reads a checkpoint folder. Errors about a bad checkpoint are <see cref="UserError"/>s.</summary>
public interface ICheckpointReader
{
    /// <summary>The model config alone (cheap), for the checks made before any work.</summary>
    ModelConfig ReadConfig(string dir);

    /// <summary>Every weight, widened to float32 (the CPU backend's weights).</summary>
    ModelWeights Load(string dir);

    /// <summary>The checkpoint opened and checked from its headers, its tensors read as stored when asked (a GPU
    /// backend's weights, streamed to the device without widening the model on the host).</summary>
    CheckpointTensors Open(string dir);

    /// <summary>The bytes <see cref="Load"/> reads (config and weight files), for the summary.</summary>
    long BytesOnDisk(string dir);
}
