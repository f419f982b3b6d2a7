using System.Reflection;

namespace LearningCurves.Engine;

/// <summary>Facts about this build of the engine, recorded in manifests.</summary>
public static class EngineInfo
{
    public static string Version { get; } =
        typeof(EngineInfo).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion?.Split('+')[0]
        ?? "0.0.0";
}
