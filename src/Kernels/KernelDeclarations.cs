using System.Text.RegularExpressions;

namespace LearningCurves.Kernels;

/// <summary>
/// kernels.cu's prototypes as the one declaration of every kernel: each <c>extern "C" __global__ void NAME(...)</c>
/// gives NAME's parameter kinds, one character per parameter — p pointer, i int, l long long, f float. The CUDA backend
/// checks every launch against this table; the kernel emulator and the software GPU deduce their launchers from the same
/// prototypes (tests/kernel-emu/kernel_table.h), so a new kernel is declared once, in kernels.cu.
/// </summary>
public static partial class KernelDeclarations
{
    private static readonly Lazy<IReadOnlyDictionary<string, string>> EmbeddedTable =
        new(() => Parse(KernelCompiler.EmbeddedSource()), LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The kernels of the kernels.cu embedded in this assembly, in file order, with their parameter kinds.</summary>
    public static IReadOnlyDictionary<string, string> Embedded => EmbeddedTable.Value;

    /// <summary>Every <c>extern "C" __global__</c> kernel of <paramref name="source"/> with its parameter kinds. A parameter
    /// of any other type, or a kernel declared twice, is an error (a launch could not be checked).</summary>
    public static IReadOnlyDictionary<string, string> Parse(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        var table = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (Match m in KernelDecl().Matches(StripComments(source)))
        {
            string name = m.Groups[1].Value;
            var kinds = m.Groups[2].Value.Trim().Length == 0
                ? ""
                : string.Concat(m.Groups[2].Value.Split(',').Select(p => Kind(name, p)));
            if (!table.TryAdd(name, kinds)) throw new InvalidOperationException($"kernels.cu declares the kernel {name} twice");
        }
        if (table.Count == 0) throw new InvalidOperationException("kernels.cu declares no extern \"C\" __global__ kernel");
        return table;
    }

    /// <summary>The kind character of one C parameter declaration (type and name).</summary>
    private static char Kind(string kernel, string parameter)
    {
        var t = Regex.Replace(parameter.Replace("__restrict__", " ", StringComparison.Ordinal), @"\s+", " ").Trim();
        if (t.Contains('*', StringComparison.Ordinal)) return 'p';
        var type = t.StartsWith("const ", StringComparison.Ordinal) ? t[6..] : t;
        if (type.StartsWith("long long ", StringComparison.Ordinal)) return 'l';
        if (type.StartsWith("float ", StringComparison.Ordinal)) return 'f';
        if (type.StartsWith("int ", StringComparison.Ordinal)) return 'i';
        throw new InvalidOperationException($"kernels.cu: {kernel} has a parameter '{t}' of a type launches cannot pass (pointer, int, long long or float)");
    }

    /// <summary>The source without // and /* */ comments (the header describes kernels in prose that looks like code).</summary>
    private static string StripComments(string source) => Comments().Replace(source, m => m.Value.StartsWith("/*", StringComparison.Ordinal) ? " " : "");

    [GeneratedRegex(@"extern ""C"" __global__ void (\w+)\s*\(([^)]*)\)")]
    private static partial Regex KernelDecl();

    [GeneratedRegex(@"//[^\n]*|/\*.*?\*/", RegexOptions.Singleline)]
    private static partial Regex Comments();
}
