using System.Security.Cryptography;
using System.Text;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Formats.IO;

namespace LearningCurves.Training.Demo;

/// <summary>
/// Skips pipeline stages whose inputs have not changed. Each stage has a key: a SHA-256 over its parameters, the keys
/// of the stages it reads, and the content of any outside files it reads. The key is written to
/// <c>ROOT/.stamps/&lt;stage&gt;</c> only after the stage succeeded; a stage whose stamp holds the same key and whose
/// output exists is skipped. Downstream keys include upstream keys, so a change anywhere reruns everything after it.
/// </summary>
public sealed class StageCache
{
    private readonly string _stamps;

    public StageCache(string root)
    {
        ArgumentNullException.ThrowIfNull(root);
        _stamps = Path.Combine(root, ".stamps");
        Directory.CreateDirectory(_stamps);
    }

    /// <summary>A key over text parts and the bytes of files (each file's path relative name and content).</summary>
    public static string Key(IEnumerable<string> parts, IEnumerable<string>? files = null)
    {
        ArgumentNullException.ThrowIfNull(parts);
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var p in parts)
        {
            h.AppendData(Encoding.UTF8.GetBytes(p));
            h.AppendData([0]);
        }
        foreach (var f in files ?? [])
        {
            h.AppendData(Encoding.UTF8.GetBytes(Path.GetFileName(f)));
            h.AppendData([0]);
            using var s = File.OpenRead(f);
            var buf = new byte[1 << 16];
            int n;
            while ((n = s.Read(buf)) > 0) h.AppendData(buf.AsSpan(0, n));
        }
        return Convert.ToHexStringLower(h.GetHashAndReset());
    }

    /// <summary>True when <paramref name="stage"/> last succeeded with this key and its output is still there.</summary>
    public bool IsFresh(string stage, string key, string output)
    {
        var stamp = Path.Combine(_stamps, stage);
        return File.Exists(stamp) && File.ReadAllText(stamp).Trim() == key && (Directory.Exists(output) || File.Exists(output));
    }

    /// <summary>Records success of <paramref name="stage"/> with <paramref name="key"/>.</summary>
    public void MarkDone(string stage, string key) => AtomicFile.WriteAllText(Path.Combine(_stamps, stage), key + "\n");

    /// <summary>Forgets a stage (before rerunning it), so a failure part-way never leaves a stale success.</summary>
    public void Invalidate(string stage) => File.Delete(Path.Combine(_stamps, stage));
}
