using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using LearningCurves.Formats.Runs;

namespace LearningCurves.Engine.Sweeps;

/// <summary>How progress is shown.</summary>
public enum ProgressMode
{
    /// <summary>A live bar redrawn in place (an interactive terminal).</summary>
    Bar,
    /// <summary>A plain line every few seconds (output redirected to a file or a pipe).</summary>
    Lines,
    /// <summary>One JSON object per finished checkpoint, and one for the summary.</summary>
    Json,
}

/// <summary>Shows a sweep's progress and summary on a text writer.</summary>
public sealed class SweepReporter(TextWriter w, ProgressMode mode, double lineIntervalSeconds = 5) : ISweepObserver
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly object _gate = new();
    private int _toDo, _finished;
    private long _tokens;
    private double _lastDraw = double.NegativeInfinity;
    private bool _barShown;

    public void Planned(int toDo, int share, int alreadyDone)
    {
        lock (_gate)
        {
            _toDo = toDo;
            if (mode == ProgressMode.Json) return;
            if (toDo > 0)
                w.WriteLine($"sweep: {toDo} checkpoint(s) to score ({alreadyDone} of {share} in this share already done)");
        }
    }

    public void Scoring(string run, long step, double fraction)
    {
        lock (_gate) Draw(run, step, fraction, force: false);
    }

    public void Finished(CheckpointResult r)
    {
        ArgumentNullException.ThrowIfNull(r);
        lock (_gate)
        {
            _finished = r.Finished;
            _tokens += r.Tokens;
            if (mode == ProgressMode.Json)
            {
                var o = new JsonObject
                {
                    ["event"] = "checkpoint",
                    ["run"] = r.Run,
                    ["row"] = r.Row,
                    ["step"] = r.Step,
                    ["path"] = r.Path,
                    ["status"] = r.Status.ToString().ToLowerInvariant(),
                    ["reason"] = r.Reason,
                    ["load_s"] = Math.Round(r.LoadSeconds, 4),
                    ["load_wait_s"] = Math.Round(r.LoadWaitSeconds, 4),
                    ["score_s"] = Math.Round(r.ScoreSeconds, 4),
                    ["write_s"] = Math.Round(r.WriteSeconds, 4),
                    ["tokens"] = r.Tokens,
                    ["tokens_per_s"] = r.ScoreSeconds > 0 ? Math.Round(r.Tokens / r.ScoreSeconds, 1) : 0,
                    ["bytes_read"] = r.BytesRead,
                    ["finished"] = r.Finished,
                    ["total"] = r.Total,
                };
                w.WriteLine(o.ToJsonString());
                w.Flush();
                return;
            }
            if (r.Status == RowStatus.Failed)
            {
                ClearBar();
                w.WriteLine($"sweep: FAILED {r.Run} step {r.Step}: {r.Reason}");
            }
            Draw(r.Run, r.Step, 1, force: r.Finished == r.Total);
        }
    }

    public void Note(string line)
    {
        lock (_gate)
        {
            if (mode == ProgressMode.Json)
            {
                w.WriteLine(new JsonObject { ["event"] = "note", ["message"] = line }.ToJsonString());
                return;
            }
            ClearBar();
            w.WriteLine($"sweep: {line}");
        }
    }

    /// <summary>The final summary (a JSON object in JSON mode).</summary>
    public void Summary(SweepSummary s)
    {
        ArgumentNullException.ThrowIfNull(s);
        lock (_gate)
        {
            ClearBar();
            if (mode == ProgressMode.Json)
            {
                w.WriteLine(new JsonObject
                {
                    ["event"] = "summary",
                    ["share"] = s.Total,
                    ["already_done"] = s.AlreadyDone,
                    ["done"] = s.Done,
                    ["failed"] = s.Failed,
                    ["recomputed"] = s.Recomputed,
                    ["nothing_to_do"] = s.NothingToDo,
                    ["wall_s"] = Math.Round(s.WallSeconds, 4),
                    ["load_s"] = Math.Round(s.LoadSeconds, 4),
                    ["load_wait_s"] = Math.Round(s.LoadWaitSeconds, 4),
                    ["score_s"] = Math.Round(s.ScoreSeconds, 4),
                    ["write_s"] = Math.Round(s.WriteSeconds, 4),
                    ["tokens"] = s.Tokens,
                    ["tokens_per_s"] = Math.Round(s.TokensPerSecond, 1),
                    ["bytes_read"] = s.BytesRead,
                    ["batch"] = s.Batch,
                    ["failures"] = new JsonArray(s.Failures.Select(f => (JsonNode)new JsonObject
                    {
                        ["run"] = f.Run, ["step"] = f.Step, ["path"] = f.Path, ["reason"] = f.Reason,
                    }).ToArray()),
                }.ToJsonString());
                w.Flush();
                return;
            }
            if (s.NothingToDo)
            {
                w.WriteLine($"sweep: nothing to do: all {s.Total} checkpoint(s) of this share are already done");
                w.Flush();
                return;
            }
            w.WriteLine($"sweep: {s.Done} checkpoint(s) done, {s.Failed} failed, {s.AlreadyDone} already done (of {s.Total} in this share)");
            w.WriteLine(string.Create(Inv, $"time: load {s.LoadSeconds:F2} s (of which {s.LoadWaitSeconds:F2} s not overlapped with scoring), score {s.ScoreSeconds:F2} s, write {s.WriteSeconds:F2} s, wall {s.WallSeconds:F2} s"));
            w.WriteLine(string.Create(Inv, $"throughput: {s.TokensPerSecond:N0} tokens/s, {s.BytesRead / 1e6:F1} MB read"));
            foreach (var f in s.Failures) w.WriteLine($"failed: {f.Run} step {f.Step} ({f.Path}): {f.Reason}");
            w.Flush();
        }
    }

    private void Draw(string run, long step, double fraction, bool force)
    {
        if (mode == ProgressMode.Json || _toDo == 0) return;
        double now = _clock.Elapsed.TotalSeconds;
        double interval = mode == ProgressMode.Bar ? 0.1 : lineIntervalSeconds;
        if (!force && now - _lastDraw < interval) return;
        _lastDraw = now;
        double doneUnits = Math.Min(_toDo, _finished + (fraction < 1 ? fraction : 0));
        double rate = now > 0 ? _tokens / now : 0;
        double eta = doneUnits > 0 ? now * (_toDo - doneUnits) / doneUnits : double.NaN;
        string etaText = double.IsFinite(eta) ? TimeSpan.FromSeconds(Math.Round(eta)).ToString(@"h\:mm\:ss", Inv) : "?";
        string stats = string.Create(Inv, $"{_finished}/{_toDo} checkpoints  {rate:N0} tok/s  ETA {etaText}  ({run} step {step})");
        if (mode == ProgressMode.Bar)
        {
            const int width = 30;
            int filled = (int)Math.Round(width * doneUnits / _toDo);
            w.Write($"\r[{new string('#', filled)}{new string('-', width - filled)}] {stats}\u001b[K");
            _barShown = true;
        }
        else
        {
            w.WriteLine($"sweep: {stats}");
        }
        w.Flush();
    }

    private void ClearBar()
    {
        if (!_barShown) return;
        w.Write("\r\u001b[K");
        _barShown = false;
    }
}
