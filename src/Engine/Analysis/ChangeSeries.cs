namespace XDit.Engine.Analysis;

/// <summary>
/// How one recorded tensor (a block's output, an attention layer's output) changed from each step to the next:
/// Relative[k] = mean|X_{k+1} − X_k| / mean|X_k| (the relative L1 of the step caches) and MeanAbs[k] = mean|X_{k+1} −
/// X_k| (DiTCacheAnalysis' unnormalised mean(d), methods.md §8), for the transition from step k to step k + 1.
/// </summary>
public sealed class ChangeSeries(string name)
{
    public string Name { get; } = name;
    public List<double> Relative { get; } = new();
    public List<double> MeanAbs { get; } = new();

    public double Mean => Relative.Count == 0 ? double.NaN : Relative.Average();
    public double Min => Relative.Count == 0 ? double.NaN : Relative.Min();
    public double Max => Relative.Count == 0 ? double.NaN : Relative.Max();

    public void Add(ReadOnlySpan<float> current, ReadOnlySpan<float> previous)
    {
        if (current.Length != previous.Length)
            throw new InvalidOperationException($"{Name}: {current.Length} values at this step, {previous.Length} at the previous one; the analysis needs the same image size and batch every step");
        double diff = 0, norm = 0;
        for (int i = 0; i < current.Length; i++)
        {
            diff += Math.Abs((double)current[i] - previous[i]);
            norm += Math.Abs((double)previous[i]);
        }
        MeanAbs.Add(current.Length == 0 ? 0 : diff / current.Length);
        Relative.Add(norm == 0 ? (diff == 0 ? 0 : double.PositiveInfinity) : diff / norm);
    }
}
