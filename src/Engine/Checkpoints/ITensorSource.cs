using LearningCurves.Formats;

namespace LearningCurves.Engine.Checkpoints;

/// <summary>What is known of one stored tensor before its bytes are read: its dtype, shape and the file holding it.</summary>
public sealed record TensorMeta(string Name, SafeTensorsDType DType, long[] Shape, string File)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => checked(a * b));

    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}

/// <summary>
/// The tensors of a model folder, whatever the container: safetensors (one file or shards) or torch.save's
/// <c>pytorch_model.bin</c> (one file or shards). Reading widens F16/BF16 to float32.
/// </summary>
public interface ITensorSource : IDisposable
{
    /// <summary>The file the tensors came from (the single file or the index), for messages.</summary>
    string Source { get; }

    IEnumerable<string> Names { get; }

    bool Contains(string name);

    TensorMeta Meta(string name);

    /// <summary>Writes tensor <paramref name="name"/> widened to float32 into <paramref name="dst"/> (ElementCount long,
    /// row-major whatever the stored strides).</summary>
    void ReadFloats(string name, Span<float> dst);
}

/// <summary>Opens the weights of a Hugging Face model folder in the order transformers looks for them.</summary>
public static class TensorSources
{
    /// <summary>
    /// <c>model.safetensors</c>, else <c>model.safetensors.index.json</c>, else <c>pytorch_model.bin</c>, else
    /// <c>pytorch_model.bin.index.json</c>: safetensors first, as transformers prefers it when both are present.
    /// </summary>
    public static ITensorSource Open(string dir)
    {
        ArgumentNullException.ThrowIfNull(dir);
        if (!Directory.Exists(dir)) throw UserError.InFile(dir, "model folder not found");
        if (File.Exists(Path.Combine(dir, SafeTensorsCheckpoint.SingleFileName)) || File.Exists(Path.Combine(dir, SafeTensorsCheckpoint.IndexFileName)))
            return SafeTensorsCheckpoint.Open(dir);
        if (File.Exists(Path.Combine(dir, TorchCheckpoint.SingleFileName)) || File.Exists(Path.Combine(dir, TorchCheckpoint.IndexFileName)))
            return TorchCheckpoint.Open(dir);
        throw UserError.InFile(dir,
            $"no weights in the model folder (looked for {SafeTensorsCheckpoint.SingleFileName}, {SafeTensorsCheckpoint.IndexFileName}, {TorchCheckpoint.SingleFileName} and {TorchCheckpoint.IndexFileName})");
    }

    /// <summary>The weight files <see cref="Open"/> would read in <paramref name="dir"/> (for byte counts).</summary>
    public static bool IsWeightFile(string fileName) =>
        fileName.EndsWith(".safetensors", StringComparison.Ordinal) || fileName.EndsWith(".bin", StringComparison.Ordinal)
        || fileName is SafeTensorsCheckpoint.IndexFileName or TorchCheckpoint.IndexFileName;
}
