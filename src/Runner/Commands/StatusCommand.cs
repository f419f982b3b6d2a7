using System.Text.Json.Nodes;
using LearningCurves.Engine;
using LearningCurves.Engine.Sweeps;
using LearningCurves.Runner.Cli;
using LearningCurves.Formats;

namespace LearningCurves.Runner.Commands;

/// <summary>`learning-curves status OUT`: per run of a sweep's output folder, how many checkpoints are done, failed, pending.</summary>
public sealed class StatusCommand : ICommand
{
    public string Name => "status";

    public string Usage => "status OUT [--json]";

    public IReadOnlyList<CliOption> Options { get; } =
    [
        CliOption.Switch("json", "one JSON array instead of lines"),
    ];

    public int Run(string[] args)
    {
        var a = Args.Parse(Name, Options, args);
        bool json = a.Switch("json");
        a.RejectUnknown(maxPositional: 1);
        if (a.Positional.Count != 1) throw new UserError("status: give the sweep's output folder: status OUT");
        var report = SweepStatus.Read(a.Positional[0]);
        if (json)
        {
            Console.WriteLine(new JsonArray(report.Select(r => (JsonNode)r.ToJson()).ToArray()).ToJsonString());
            return 0;
        }
        foreach (var r in report)
        {
            Console.WriteLine($"{r.Run}: {r.Done} done, {r.Failed} failed, {r.Pending} pending (of {r.Total})");
            foreach (var f in r.Failures) Console.WriteLine($"  failed: step {f.Step} ({f.Path}): {f.Reason}");
            if (r.Duplicates.Count > 0)
                Console.WriteLine($"  {r.Duplicates.Count} duplicate checkpoint(s): the same weights as a later step (left out by metrics and analyze unless --keep-duplicates)");
            foreach (var d in r.Duplicates) Console.WriteLine($"  duplicate: step {d.Step} serves the weights of step {d.DuplicateOf} ({d.Path})");
        }
        return 0;
    }
}
