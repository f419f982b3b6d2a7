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

    /// <summary>The files of the model folder <paramref name="dir"/>: its single file when it has one (every tensor it
    /// names), else the shards its index file lists (<see cref="ShardIndex"/>); Source is the file opened first.</summary>
    private protected static (string Source, List<TFile> Files, Dictionary<string, TFile> Owner) OpenFolder(string dir, string singleFileName,
        string indexFileName, Func<string, TFile> open, Func<TFile, IEnumerable<string>> names, Func<TFile, string> path)
    {
        ArgumentNullException.ThrowIfNull(dir);
        ArgumentNullException.ThrowIfNull(open);
        ArgumentNullException.ThrowIfNull(names);
        if (!Directory.Exists(dir)) throw UserError.InFile(dir, "model folder not found");
        var single = System.IO.Path.Combine(dir, singleFileName);
        if (File.Exists(single))
        {
            var file = open(single);
            return (single, [file], names(file).ToDictionary(n => n, _ => file, StringComparer.Ordinal));
        }
        var index = System.IO.Path.Combine(dir, indexFileName);
        if (!File.Exists(index)) throw UserError.InFile(dir, $"no {singleFileName} or {indexFileName} in the model folder");
        var (files, owner) = ShardIndex.Open(index, open, names, path);
        return (index, files, owner);
    }

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
        GC.SuppressFinalize(this);
    }
}
