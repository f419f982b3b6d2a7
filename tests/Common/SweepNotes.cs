using LearningCurves.Engine.Sweeps;

namespace LearningCurves.Tests.Common;

/// <summary>A sweep observer that keeps what the sweep said: the plan and notes as lines, and each finished row.</summary>
public sealed class SweepNotes : ISweepObserver
{
    public List<string> Lines { get; } = new();

    public List<CheckpointResult> Results { get; } = new();

    public void Planned(int toDo, int share, int alreadyDone) => Lines.Add($"planned {toDo}/{share}/{alreadyDone}");

    public void Scoring(string run, long step, double fraction)
    {
    }

    public void Finished(CheckpointResult r) => Results.Add(r);

    public void Note(string line) => Lines.Add(line);
}
