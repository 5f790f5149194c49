namespace XDit.Engine.Analysis;

/// <summary>How the change of one recorded tensor X from step i to step i + 1 is measured (d = X(i+1) − X(i),
/// all elements of the tensor at once).</summary>
public enum ChangeMetric
{
    /// <summary>mean|d|: DiTCacheAnalysis' "L1 distance" (its info['means']), the quantity of the paper's figures
    /// and of its coefficient of variation (Table 2).</summary>
    MeanAbs,
    /// <summary>The unbiased variance (n − 1) of |d| over the elements: the tool's info['vars'] (torch.var of the
    /// absolute difference).</summary>
    VarAbs,
    /// <summary>Σ|d| / Σ|X(i)|: the step caches' relative L1 (FBCache, TeaCache), scale-free across layers.</summary>
    RelativeL1,
    /// <summary>1 − ⟨X(i+1), X(i)⟩ / (‖X(i+1)‖ ‖X(i)‖): cosine distance, blind to a change of scale.</summary>
    Cosine,
}

public static class ChangeMetrics
{
    public static readonly IReadOnlyList<ChangeMetric> All = [ChangeMetric.MeanAbs, ChangeMetric.VarAbs, ChangeMetric.RelativeL1, ChangeMetric.Cosine];

    /// <summary>The name used on the command line, in report.json and in raw.csv's columns.</summary>
    public static string Name(this ChangeMetric m) => m switch
    {
        ChangeMetric.MeanAbs => "mean_abs",
        ChangeMetric.VarAbs => "var_abs",
        ChangeMetric.RelativeL1 => "relative_l1",
        ChangeMetric.Cosine => "cosine",
        _ => throw new ArgumentOutOfRangeException(nameof(m)),
    };

    /// <summary>Parses a comma-separated list ("mean_abs,cosine" or "all"); throws naming the unknown one.</summary>
    public static IReadOnlyList<ChangeMetric> ParseList(string text)
    {
        if (text.Trim() == "all") return All;
        var result = new List<ChangeMetric>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var m = All.FirstOrDefault(x => x.Name() == part, (ChangeMetric)(-1));
            if (m < 0) throw new ArgumentException($"--metrics: unknown metric '{part}'; expected some of {string.Join(", ", All.Select(x => x.Name()))} or all");
            if (!result.Contains(m)) result.Add(m);
        }
        if (result.Count == 0) throw new ArgumentException("--metrics: no metric named");
        return result;
    }

    /// <summary>Every metric of the change from <paramref name="previous"/> to <paramref name="current"/>, in
    /// double: two passes (the variance about the mean of |d|, as torch.var computes it, not Σx² − n·mean²).</summary>
    public static ChangeValues Compute(ReadOnlySpan<float> current, ReadOnlySpan<float> previous)
    {
        if (current.Length != previous.Length)
            throw new ArgumentException($"the change metrics need equal sizes, got {current.Length} values now and {previous.Length} at the previous step");
        int n = current.Length;
        if (n == 0) return new ChangeValues(0, 0, 0, 0);
        double sumAbs = 0, sumPrevAbs = 0, dot = 0, curSq = 0, prevSq = 0;
        for (int i = 0; i < n; i++)
        {
            double c = current[i], p = previous[i];
            sumAbs += Math.Abs(c - p);
            sumPrevAbs += Math.Abs(p);
            dot += c * p;
            curSq += c * c;
            prevSq += p * p;
        }
        double mean = sumAbs / n;
        double ss = 0;
        for (int i = 0; i < n; i++)
        {
            double e = Math.Abs((double)current[i] - previous[i]) - mean;
            ss += e * e;
        }
        double variance = n > 1 ? ss / (n - 1) : double.NaN; // torch.var of one element is NaN too
        // A zero reference with no change is "no change"; with a change, an infinite one.
        double relative = sumPrevAbs == 0 ? (sumAbs == 0 ? 0 : double.PositiveInfinity) : sumAbs / sumPrevAbs;
        double norms = Math.Sqrt(curSq) * Math.Sqrt(prevSq);
        // no change is exactly 0 (the quotient of equal sums can round off 1); rounding kept within [0, 2]
        double cosine = sumAbs == 0 ? 0 : norms == 0 ? 1 : Math.Clamp(1 - dot / norms, 0, 2);
        return new ChangeValues(mean, variance, relative, cosine);
    }
}

/// <summary>The metrics of one step transition of one tensor.</summary>
public readonly record struct ChangeValues(double MeanAbs, double VarAbs, double RelativeL1, double Cosine)
{
    public double this[ChangeMetric m] => m switch
    {
        ChangeMetric.MeanAbs => MeanAbs,
        ChangeMetric.VarAbs => VarAbs,
        ChangeMetric.RelativeL1 => RelativeL1,
        ChangeMetric.Cosine => Cosine,
        _ => throw new ArgumentOutOfRangeException(nameof(m)),
    };
}
