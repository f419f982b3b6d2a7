using System.Text.Json;
using LearningCurves.Formats;

namespace LearningCurves.Engine.Checkpoints;

/// <summary>
/// A Hugging Face shard index (<c>model.safetensors.index.json</c>, <c>pytorch_model.bin.index.json</c>:
/// {"metadata": {...}, "weight_map": {tensor name: shard file}}) opened once for every container: each shard must be a
/// plain file name in the model folder and hold exactly the tensors the index maps to it; a name in two shards is an
/// error.
/// </summary>
internal static class ShardIndex
{
    /// <summary>Opens every shard of <paramref name="indexPath"/> with <paramref name="open"/>; returns them (in file
    /// name order) and the shard of each tensor. On an error every shard opened so far is disposed.</summary>
    public static (List<TFile> Files, Dictionary<string, TFile> Owner) Open<TFile>(string indexPath, Func<string, TFile> open,
        Func<TFile, IEnumerable<string>> names, Func<TFile, string> path)
        where TFile : IDisposable
    {
        ArgumentNullException.ThrowIfNull(indexPath);
        var indexName = Path.GetFileName(indexPath);
        var dir = Path.GetDirectoryName(Path.GetFullPath(indexPath))!;
        var map = ReadWeightMap(indexPath);
        var files = new List<TFile>();
        var owner = new Dictionary<string, TFile>(StringComparer.Ordinal);
        try
        {
            foreach (var shard in map.Values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
            {
                if (shard.Contains('/', StringComparison.Ordinal) || shard.Contains('\\', StringComparison.Ordinal) || shard is "." or "..")
                    throw UserError.InFile(indexPath, $"shard file '{shard}' must be a plain file name in the model folder");
                var f = open(Path.Combine(dir, shard));
                files.Add(f);
                foreach (var name in names(f))
                {
                    if (!map.TryGetValue(name, out var mapped))
                        throw UserError.InFile(path(f), $"tensor '{name}' is not listed in {indexName}");
                    if (mapped != shard)
                        throw UserError.InFile(path(f), $"tensor '{name}' is mapped to '{mapped}' by {indexName} but also stored here");
                    owner.Add(name, f);
                }
            }
            foreach (var (name, shard) in map)
            {
                if (!owner.ContainsKey(name))
                    throw UserError.InFile(Path.Combine(dir, shard), $"tensor '{name}' listed in {indexName} is missing from this shard");
            }
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
        return (files, owner);
    }

    /// <summary>The "weight_map" of a shard index: tensor name -> shard file.</summary>
    public static Dictionary<string, string> ReadWeightMap(string indexPath)
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
}
