namespace LearningCurves.Formats.IO;

/// <summary>A small hand-written list file (steps, checkpoints): one entry a line, trimmed; blank lines and lines
/// starting with # are skipped.</summary>
public static class ListFile
{
    /// <summary>The entries of <paramref name="path"/>, each with its 1-based line number for error messages.</summary>
    public static IEnumerable<(int LineNo, string Text)> Entries(string path)
    {
        int lineNo = 0;
        foreach (var raw in File.ReadLines(path))
        {
            lineNo++;
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            yield return (lineNo, line);
        }
    }
}
