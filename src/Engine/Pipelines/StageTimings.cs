using System.Diagnostics;

namespace XDit.Engine.Pipelines;

/// <summary>Wall time spent per pipeline stage (encode, denoise, decode), in the order the stages ran.</summary>
public sealed class StageTimings(Action<string, TimeSpan>? onStage = null)
{
    readonly List<(string Stage, TimeSpan Time)> _stages = new();

    public IReadOnlyList<(string Stage, TimeSpan Time)> Stages => _stages;
    public TimeSpan Total => _stages.Aggregate(TimeSpan.Zero, (a, s) => a + s.Time);

    public T Measure<T>(string stage, Func<T> work)
    {
        var sw = Stopwatch.StartNew();
        try { return work(); }
        finally { Add(stage, sw.Elapsed); }
    }

    /// <summary>The same timings with a stage put first (the load, timed outside the pipeline).</summary>
    public StageTimings WithFirst(string stage, TimeSpan time)
    {
        var t = new StageTimings();
        t.Add(stage, time);
        foreach (var (s, d) in _stages) t.Add(s, d);
        return t;
    }

    /// <summary>Adds the time of a stage (to what it already had) and tells the callback the stage ended.</summary>
    public void Add(string stage, TimeSpan time)
    {
        onStage?.Invoke(stage, time);
        int i = _stages.FindIndex(s => s.Stage == stage);
        if (i >= 0) _stages[i] = (stage, _stages[i].Time + time);
        else _stages.Add((stage, time));
    }
}
