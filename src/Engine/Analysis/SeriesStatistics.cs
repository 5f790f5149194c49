namespace XDit.Engine.Analysis;

/// <summary>
/// One series (target, layer, half) at one step count and metric, over the prompts: per transition k (step k to
/// k + 1) the mean, the standard deviation (population, numpy's default, as the tool's np.var) and the coefficient
/// of variation std / mean (0 where every prompt gave the same value). <see cref="ArgMax"/> is the transition of the
/// largest mean change.
/// </summary>
public sealed record SeriesStatistics(SeriesKey Key, string Kind, int Steps, ChangeMetric Metric, double[] Mean, double[] Std, double[] Cv)
{
    public int Transitions => Mean.Length;
    public int ArgMax
    {
        get
        {
            int best = 0;
            for (int k = 1; k < Mean.Length; k++) if (Mean[k] > Mean[best]) best = k;
            return best;
        }
    }
    /// <summary>The largest change's position as a fraction of the run: transition k of T sits at k / (T − 1)
    /// (0 the first, 1 the last), so 14, 28 and 56 steps compare.</summary>
    public double ArgMaxFraction => Transitions <= 1 ? 0 : ArgMax / (double)(Transitions - 1);
    /// <summary>The paper's step axis counts down: transition k is step T − 1 − k there (0 the last).</summary>
    public int ArgMaxCountdown => Transitions - 1 - ArgMax;
    /// <summary>Mean coefficient of variation over the transitions (NaN ones left out).</summary>
    public double MeanCv => Cv.Where(double.IsFinite).DefaultIfEmpty(double.NaN).Average();
}

/// <summary>Table 2 of the paper for one target: the coefficient of variation across prompts, averaged over the
/// layers and transitions (the tool: np.mean(np.sqrt(np.var(L1, axis=0)) / np.mean(L1, axis=0))).</summary>
public sealed record VariationSummary(int Steps, string Target, string Half, ChangeMetric Metric, double MeanCv, double MaxCv, int Layers, int Prompts);

/// <summary>Statistics over the prompts of a <see cref="RedundancyStudy"/>.</summary>
public sealed class RedundancyStatistics
{
    public required IReadOnlyList<SeriesStatistics> Series { get; init; }
    public required IReadOnlyList<VariationSummary> Table2 { get; init; }

    public static RedundancyStatistics From(RedundancyStudy study, IReadOnlyList<ChangeMetric> metrics)
    {
        var series = new List<SeriesStatistics>();
        var table = new List<VariationSummary>();
        foreach (var steps in study.StepCounts)
        {
            var runs = study.Runs.Where(r => r.Steps == steps).ToList();
            var first = runs[0];
            var kinds = first.Layers.ToDictionary(l => l.Layer, l => l.Kind.ToString().ToLowerInvariant());
            var byRun = runs.Select(r => r.Series.ToDictionary(s => s.Key)).ToList();
            foreach (var metric in metrics)
            {
                var made = new List<SeriesStatistics>();
                foreach (var s in first.Series)
                {
                    int t = s.Values.Count;
                    var rows = new double[runs.Count][];
                    for (int r = 0; r < runs.Count; r++)
                    {
                        if (!byRun[r].TryGetValue(s.Key, out var other) || other.Values.Count != t)
                            throw new InvalidOperationException($"prompt {runs[r].PromptIndex} at {steps} steps recorded {s.Name} differently from prompt {first.PromptIndex}; every prompt must run the same model, size and steps");
                        rows[r] = other.Of(metric).ToArray();
                    }
                    var (mean, std, cv) = Moments(rows, t);
                    string kind = s.Key.Target == RecordingTarget.Block ? "block" : kinds.GetValueOrDefault(s.Key.Layer, "self");
                    made.Add(new SeriesStatistics(s.Key, kind, steps, metric, mean, std, cv));
                }
                series.AddRange(made);
                foreach (var g in made.GroupBy(m => (m.Key.Target, m.Key.Half)))
                {
                    var cvs = g.SelectMany(m => m.Cv).Where(double.IsFinite).ToList();
                    table.Add(new VariationSummary(steps, g.Key.Target, g.Key.Half, metric,
                        cvs.Count == 0 ? double.NaN : cvs.Average(), cvs.Count == 0 ? double.NaN : cvs.Max(), g.Count(), runs.Count));
                }
            }
        }
        return new RedundancyStatistics { Series = series, Table2 = table };
    }

    /// <summary>Per column of <paramref name="rows"/> (prompts × transitions): mean, population std, std/mean.</summary>
    public static (double[] Mean, double[] Std, double[] Cv) Moments(double[][] rows, int columns)
    {
        var mean = new double[columns];
        var std = new double[columns];
        var cv = new double[columns];
        int n = rows.Length;
        for (int k = 0; k < columns; k++)
        {
            double m = 0;
            bool same = true;
            foreach (var r in rows) { m += r[k]; same &= r[k] == rows[0][k]; }
            m /= n;
            double v = 0;
            foreach (var r in rows) v += (r[k] - m) * (r[k] - m);
            // equal values have no spread; summing them and dividing by n can round the mean off them
            double sd = same ? 0 : Math.Sqrt(v / n);
            mean[k] = m;
            std[k] = sd;
            cv[k] = sd == 0 ? 0 : sd / m; // identical prompts: no variation, even where the change itself is 0
        }
        return (mean, std, cv);
    }
}
