using LearningCurves.Formats;

namespace LearningCurves.Engine.Checkpoints;

/// <summary>
/// The tensors of a model folder: one <c>model.safetensors</c>, or shards listed by
/// <c>model.safetensors.index.json</c> ({"metadata": {...}, "weight_map": {tensor name: shard file}}). Each shard must
/// hold exactly the tensors the index maps to it; a name in two shards is an error.
/// </summary>
public sealed class SafeTensorsCheckpoint : ITensorSource
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly List<SafeTensorsFile> _files;
    private readonly Dictionary<string, SafeTensorsFile> _owner;

    private SafeTensorsCheckpoint(string source, List<SafeTensorsFile> files, Dictionary<string, SafeTensorsFile> owner)
    {
        Source = source;
        _files = files;
        _owner = owner;
    }

    /// <summary>The single file or the index file the tensors came from.</summary>
    public string Source { get; }

    public IReadOnlyList<SafeTensorsFile> Files => _files;

    public IEnumerable<string> Names => _owner.Keys;

    public bool Contains(string name) => _owner.ContainsKey(name);

    /// <summary>The file holding <paramref name="name"/> and its header entry.</summary>
    public (SafeTensorsFile File, SafeTensorInfo Info) Get(string name) =>
        _owner.TryGetValue(name, out var f) ? (f, f.Info(name)) : throw UserError.InFile(Source, $"no tensor named '{name}'");

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
    public static SafeTensorsCheckpoint Open(string dir)
    {
        ArgumentNullException.ThrowIfNull(dir);
        if (!Directory.Exists(dir)) throw UserError.InFile(dir, "model folder not found");
        var single = Path.Combine(dir, SingleFileName);
        if (File.Exists(single)) return OpenFile(single);
        var index = Path.Combine(dir, IndexFileName);
        if (File.Exists(index)) return OpenIndex(index);
        throw UserError.InFile(dir, $"no {SingleFileName} or {IndexFileName} in the model folder");
    }

    /// <summary>One .safetensors file.</summary>
    public static SafeTensorsCheckpoint OpenFile(string path)
    {
        var f = SafeTensorsFile.Open(path);
        return new SafeTensorsCheckpoint(path, [f], f.Names.ToDictionary(n => n, _ => f, StringComparer.Ordinal));
    }

    /// <summary>A sharded checkpoint through its index file (<see cref="ShardIndex"/>).</summary>
    public static SafeTensorsCheckpoint OpenIndex(string indexPath)
    {
        var (files, owner) = ShardIndex.Open(indexPath, SafeTensorsFile.Open, f => f.Names, f => f.Path);
        return new SafeTensorsCheckpoint(indexPath, files, owner);
    }

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
    }
}
