using LearningCurves.Formats;

namespace LearningCurves.Engine.Checkpoints;

/// <summary>
/// The tensors of a model folder kept in one container file or in shards listed by an index (<see cref="ShardIndex"/>):
/// the open files and which one holds each tensor, for every container format (<see cref="SafeTensorsCheckpoint"/>,
/// <see cref="TorchCheckpoint"/>). Disposing it disposes the files.
/// </summary>
public abstract class ShardedCheckpoint<TFile> : IDisposable where TFile : IDisposable
{
    private readonly List<TFile> _files;
    private readonly Dictionary<string, TFile> _owner;

    private protected ShardedCheckpoint(string source, List<TFile> files, Dictionary<string, TFile> owner)
    {
        Source = source;
        _files = files;
        _owner = owner;
    }

    /// <summary>The single file or the index file the tensors came from.</summary>
    public string Source { get; }

    public IReadOnlyList<TFile> Files => _files;

    public IEnumerable<string> Names => _owner.Keys;

    public bool Contains(string name) => _owner.ContainsKey(name);

    /// <summary>The file holding <paramref name="name"/>.</summary>
    protected TFile Owner(string name) =>
        _owner.TryGetValue(name, out var f) ? f : throw UserError.InFile(Source, $"no tensor named '{name}'");

    /// <summary>One container file holding every tensor it names.</summary>
    private protected static (List<TFile> Files, Dictionary<string, TFile> Owner) Single(TFile file, IEnumerable<string> names) =>
        ([file], names.ToDictionary(n => n, _ => file, StringComparer.Ordinal));

    /// <summary>The path of <paramref name="dir"/>'s single file when it has one, else of its index file (IsIndex).</summary>
    private protected static (string Path, bool IsIndex) Locate(string dir, string singleFileName, string indexFileName)
    {
        ArgumentNullException.ThrowIfNull(dir);
        if (!Directory.Exists(dir)) throw UserError.InFile(dir, "model folder not found");
        var single = System.IO.Path.Combine(dir, singleFileName);
        if (File.Exists(single)) return (single, false);
        var index = System.IO.Path.Combine(dir, indexFileName);
        if (File.Exists(index)) return (index, true);
        throw UserError.InFile(dir, $"no {singleFileName} or {indexFileName} in the model folder");
    }

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
        GC.SuppressFinalize(this);
    }
}
