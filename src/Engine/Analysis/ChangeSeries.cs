namespace XDit.Engine.Analysis;

/// <summary>
/// How one recorded tensor changed from each step to the next within one generation: <see cref="Values"/>[k] holds
/// every <see cref="ChangeMetric"/> of the transition from step k to step k + 1.
/// </summary>
public sealed class ChangeSeries(SeriesKey key)
{
    public SeriesKey Key { get; } = key;
    public string Name => Key.ToString();
    public List<ChangeValues> Values { get; } = new();

    public IReadOnlyList<double> Of(ChangeMetric metric) => Values.Select(v => v[metric]).ToList();

    /// <summary>Relative L1 per transition (the step caches' measure).</summary>
    public IReadOnlyList<double> Relative => Of(ChangeMetric.RelativeL1);
    /// <summary>mean|d| per transition (the tool's L1 distance).</summary>
    public IReadOnlyList<double> MeanAbs => Of(ChangeMetric.MeanAbs);

    public void Add(ReadOnlySpan<float> current, ReadOnlySpan<float> previous)
    {
        try { Values.Add(ChangeMetrics.Compute(current, previous)); }
        catch (ArgumentException e)
        {
            throw new InvalidOperationException($"{Name}: {e.Message}; the analysis needs the same image size and batch every step", e);
        }
    }
}
