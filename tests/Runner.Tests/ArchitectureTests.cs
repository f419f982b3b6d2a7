using System.Reflection;
using System.Xml.Linq;
using LearningCurves.Analysis.Report;
using LearningCurves.Engine.Backends;
using LearningCurves.Kernels;
using LearningCurves.Tests.Common;
using LearningCurves.Training;
using Xunit;
using LearningCurves.Formats.IO;

namespace LearningCurves.Runner.Tests;

/// <summary>
/// The one-way flow of docs/architecture.md, checked on the built assemblies and on the project files: Formats
/// references no project; Engine only Formats; Analysis only Formats (it reads files and never runs a model);
/// Kernels and Training Engine and Formats; the Runner all of them.
/// </summary>
public class ArchitectureTests
{
    private static readonly Dictionary<string, string[]> Allowed = new(StringComparer.Ordinal)
    {
        ["LearningCurves.Formats"] = [],
        ["LearningCurves.Engine"] = ["LearningCurves.Formats"],
        ["LearningCurves.Analysis"] = ["LearningCurves.Formats"],
        ["LearningCurves.Kernels"] = ["LearningCurves.Engine", "LearningCurves.Formats"],
        ["LearningCurves.Training"] = ["LearningCurves.Engine", "LearningCurves.Formats"],
    };

    public static TheoryData<string> Assemblies => new(Allowed.Keys);

    private static Assembly Load(string name) => name switch
    {
        "LearningCurves.Formats" => typeof(Npy).Assembly,
        "LearningCurves.Engine" => typeof(CpuBackend).Assembly,
        "LearningCurves.Analysis" => typeof(Analyzer).Assembly,
        "LearningCurves.Kernels" => typeof(CudaBackend).Assembly,
        "LearningCurves.Training" => typeof(Pretrainer).Assembly,
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    [Theory]
    [MemberData(nameof(Assemblies))]
    public void Built_assembly_references_only_what_the_flow_allows(string name)
    {
        var asm = Load(name);
        Assert.Equal(name, asm.GetName().Name);
        var project = asm.GetReferencedAssemblies().Select(a => a.Name!).Where(n => n.StartsWith("LearningCurves.", StringComparison.Ordinal)).ToList();
        var extra = project.Except(Allowed[name]).ToList();
        Assert.True(extra.Count == 0, $"{name} references {string.Join(", ", extra)}; allowed: [{string.Join(", ", Allowed[name])}] (docs/architecture.md)");
    }

    [Theory]
    [MemberData(nameof(Assemblies))]
    public void Project_file_references_only_what_the_flow_allows(string name)
    {
        string folder = name["LearningCurves.".Length..];
        string csproj = Path.Combine(TestPaths.RepoRoot, "src", folder, name + ".csproj");
        Assert.True(File.Exists(csproj), $"{csproj} missing");
        var refs = XDocument.Load(csproj).Descendants("ProjectReference")
            .Select(e => Path.GetFileNameWithoutExtension(e.Attribute("Include")!.Value.Replace('\\', '/'))).ToList();
        var extra = refs.Except(Allowed[name]).ToList();
        Assert.True(extra.Count == 0, $"{csproj} has ProjectReference {string.Join(", ", extra)}; allowed: [{string.Join(", ", Allowed[name])}] (docs/architecture.md)");
    }

    [Fact]
    public void Every_source_project_is_in_the_table()
    {
        var projects = Directory.GetFiles(Path.Combine(TestPaths.RepoRoot, "src"), "*.csproj", SearchOption.AllDirectories)
            .Select(Path.GetFileNameWithoutExtension).Where(n => n != "LearningCurves.Runner").Order(StringComparer.Ordinal).ToList();
        Assert.Equal(Allowed.Keys.Order(StringComparer.Ordinal), projects);
    }

    [Theory]
    [MemberData(nameof(Assemblies))]
    public void Every_type_lives_in_its_assemblys_namespace(string name)
    {
        var wrong = Load(name).GetTypes()
            .Where(t => t.Namespace is { } ns && ns.StartsWith("LearningCurves.", StringComparison.Ordinal)
                        && ns != name && !ns.StartsWith(name + ".", StringComparison.Ordinal))
            .Select(t => t.FullName).Order(StringComparer.Ordinal).ToList();
        Assert.True(wrong.Count == 0, $"{name} declares types in another assembly's namespace: {string.Join(", ", wrong.Take(10))}");
    }
}
