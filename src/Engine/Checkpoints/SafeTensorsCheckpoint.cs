using LearningCurves.Formats;

namespace LearningCurves.Engine.Checkpoints;

/// <summary>
/// The tensors of a model folder: one <c>model.safetensors</c>, or shards listed by
/// <c>model.safetensors.index.json</c> ({"metadata": {...}, "weight_map": {tensor name: shard file}}). Each shard must
/// hold exactly the tensors the index maps to it; a name in two shards is an error.
/// </summary>
public sealed class SafeTensorsCheckpoint : ShardedCheckpoint<SafeTensorsFile>, ITensorSource
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";

    private SafeTensorsCheckpoint((string Source, List<SafeTensorsFile> Files, Dictionary<string, SafeTensorsFile> Owner) opened)
        : base(opened.Source, opened.Files, opened.Owner)
    {
    }

    /// <summary>The file holding <paramref name="name"/> and its header entry.</summary>
    public (SafeTensorsFile File, SafeTensorInfo Info) Get(string name)
    {
        var f = Owner(name);
        return (f, f.Info(name));
    }

    public TensorMeta Meta(string name)
    {
        var (f, t) = Get(name);
        return new TensorMeta(t.Name, t.DType, t.Shape, f.Path);
    }

    public void ReadFloats(string name, Span<float> dst)
    {
        var (f, t) = Get(name);
        f.ReadFloats(t, dst);
    }

    /// <summary>Opens <paramref name="dir"/>/model.safetensors, or the shards of its index when there is no single file.</summary>
    public static SafeTensorsCheckpoint Open(string dir) =>
        new(OpenFolder(dir, SingleFileName, IndexFileName, SafeTensorsFile.Open, f => f.Names, f => f.Path));
}
