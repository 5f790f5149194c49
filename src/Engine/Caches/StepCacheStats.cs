namespace XDit.Engine.Caches;

/// <summary>What a step cache did: which step indices ran every block and which reused the cached residual.</summary>
public sealed class StepCacheStats
{
    readonly List<int> _computed = new(), _skipped = new();

    public IReadOnlyList<int> ComputedSteps => _computed;
    public IReadOnlyList<int> SkippedSteps => _skipped;
    public int Computed => _computed.Count;
    public int Skipped => _skipped.Count;
    /// <summary>The change measure each step was decided on (NaN where no comparison was made).</summary>
    public List<double> Indicators { get; } = new();

    /// <summary>Block evaluations made and possible (caches that decide per block; 0 and 0 otherwise).</summary>
    public int BlocksComputed { get; private set; }
    public int BlocksTotal { get; private set; }

    internal void RecordBlocks(int computed, int total) { BlocksComputed += computed; BlocksTotal += total; }

    internal void Record(int step, bool skipped, double indicator)
    {
        (skipped ? _skipped : _computed).Add(step);
        Indicators.Add(indicator);
    }

    public void Clear() { _computed.Clear(); _skipped.Clear(); Indicators.Clear(); BlocksComputed = BlocksTotal = 0; }

    public override string ToString() => BlocksTotal > 0
        ? $"{BlocksComputed} of {BlocksTotal} block evaluations ({1 - BlocksComputed / (double)BlocksTotal:P1} saved); {Computed} steps ran every block, {Skipped} reused some" + (Skipped > 0 ? $" ({string.Join(", ", _skipped)})" : "")
        : $"{Computed} steps computed, {Skipped} skipped" + (Skipped > 0 ? $" ({string.Join(", ", _skipped)})" : "");
}
