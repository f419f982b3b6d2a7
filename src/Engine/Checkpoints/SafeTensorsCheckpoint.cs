using System.Text.Json;
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

    /// <summary>A sharded checkpoint through its index file.</summary>
    public static SafeTensorsCheckpoint OpenIndex(string indexPath)
    {
        ArgumentNullException.ThrowIfNull(indexPath);
        var dir = Path.GetDirectoryName(Path.GetFullPath(indexPath))!;
        var map = ReadWeightMap(indexPath);
        var files = new List<SafeTensorsFile>();
        var owner = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
        try
        {
            foreach (var shard in map.Values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
            {
                if (shard.Contains('/', StringComparison.Ordinal) || shard.Contains('\\', StringComparison.Ordinal) || shard is "." or "..")
                    throw UserError.InFile(indexPath, $"shard file '{shard}' must be a plain file name in the model folder");
                var f = SafeTensorsFile.Open(Path.Combine(dir, shard));
                files.Add(f);
                foreach (var name in f.Names)
                {
                    if (!map.TryGetValue(name, out var mapped))
                        throw UserError.InFile(f.Path, $"tensor '{name}' is not listed in {IndexFileName}");
                    if (mapped != shard)
                        throw UserError.InFile(f.Path, $"tensor '{name}' is mapped to '{mapped}' by {IndexFileName} but also stored here");
                    owner.Add(name, f);
                }
            }
            foreach (var (name, shard) in map)
            {
                if (!owner.ContainsKey(name))
                    throw UserError.InFile(Path.Combine(dir, shard), $"tensor '{name}' listed in {IndexFileName} is missing from this shard");
            }
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
        return new SafeTensorsCheckpoint(indexPath, files, owner);
    }

    /// <summary>The "weight_map" of a Hugging Face shard index (safetensors or torch): tensor name -> shard file.</summary>
    internal static Dictionary<string, string> ReadWeightMap(string indexPath)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(indexPath));
        }
        catch (JsonException e)
        {
            throw UserError.InFile(indexPath, $"not valid JSON ({e.Message.ReplaceLineEndings(" ")})");
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("weight_map", out var wm)
                || wm.ValueKind != JsonValueKind.Object)
                throw UserError.InFile(indexPath, "needs a \"weight_map\" object of tensor name -> shard file");
            var map = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var p in wm.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String)
                    throw UserError.InFile(indexPath, $"weight_map entry '{p.Name}' is not a file name");
                if (!map.TryAdd(p.Name, p.Value.GetString()!))
                    throw UserError.InFile(indexPath, $"tensor '{p.Name}' appears twice in weight_map");
            }
            if (map.Count == 0) throw UserError.InFile(indexPath, "weight_map is empty");
            return map;
        }
    }

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
    }
}
