using System.Globalization;
using System.Text;
using XDit.Engine.Caches;

namespace XDit.Engine.Analysis;

/// <summary>A step-cache policy to replay or run: fbcache:THRESHOLD, teacache:THRESHOLD, adaptive:BUDGET (online
/// only) or seeded:BUDGET (adaptive, seeded by the analysis' own residual profile).</summary>
public sealed record CachePolicy(string Method, double Value)
{
    public static readonly IReadOnlyList<string> Methods = ["fbcache", "teacache", "adaptive", "seeded"];
    public override string ToString() => $"{Method}:{Value.ToString(CultureInfo.InvariantCulture)}";

    public static IReadOnlyList<CachePolicy> ParseList(string text)
    {
        var list = new List<CachePolicy>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var bits = part.Split(':');
            if (bits.Length != 2 || !Methods.Contains(bits[0]) || !double.TryParse(bits[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v) || v < 0)
                throw new ArgumentException($"--simulate: '{part}' is not METHOD:VALUE with METHOD one of {string.Join(", ", Methods)} and VALUE a number ≥ 0 (a threshold; a budget in (0, 1] for adaptive and seeded)");
            if (bits[0] is "adaptive" or "seeded" && !(v > 0 && v <= 1))
                throw new ArgumentException($"--simulate: '{part}': the adaptive cache's budget is the fraction of block work done, in (0, 1]");
            list.Add(new CachePolicy(bits[0], v));
        }
        if (list.Count == 0) throw new ArgumentException("--simulate: no policy given (e.g. fbcache:0.12,teacache:0.12,adaptive:0.5)");
        return list;
    }

    /// <summary>The step-cache loop that runs this policy for real.</summary>
    public StepCacheLoop Loop(AdaptiveCacheSeed? seed) => Method switch
    {
        "fbcache" => StepCacheLoop.FirstBlockCache(Value),
        "teacache" => StepCacheLoop.TeaCache(Value),
        "adaptive" => StepCacheLoop.Adaptive(Value),
        "seeded" => StepCacheLoop.Adaptive(Value, seed ?? throw new InvalidOperationException("seeded: no residual profile was measured")),
        _ => throw new InvalidOperationException(Method),
    };
}

/// <summary>
/// The measured series a simulation replays, mean over prompts at one step count: per block the residual's relative
/// change and mean |Δ| at each transition, and TeaCache's indicator (block 0's modulated input) where recorded.
/// </summary>
public sealed record ReplaySeries(int Steps, double[][] Relative, double[][] MeanAbs, double[]? TeaInput)
{
    public int Blocks => Relative.Length;

    public static ReplaySeries From(RedundancyStatistics stats, int steps)
    {
        SeriesStatistics[] Of(string target, ChangeMetric m) => stats.Series
            .Where(s => s.Steps == steps && s.Key.Target == target && s.Metric == m && s.Key.Half == SeriesKey.AllRows).ToArray();
        var rel = Of(RecordingTarget.Residual, ChangeMetric.RelativeL1);
        var abs = Of(RecordingTarget.Residual, ChangeMetric.MeanAbs);
        if (rel.Length == 0 || abs.Length != rel.Length)
            throw new InvalidOperationException("the simulation replays the blocks' residuals: record them (--targets residual, --metrics with relative_l1 and mean_abs, --cfg together)");
        var tea = Of(RecordingTarget.TeaInput, ChangeMetric.RelativeL1).FirstOrDefault();
        return new ReplaySeries(steps, rel.Select(s => s.Mean).ToArray(), abs.Select(s => s.Mean).ToArray(), tea?.Mean);
    }

    public AdaptiveCacheSeed Seed() => AdaptiveCacheSeed.From(Steps, Relative);
}

/// <summary>What a policy would do on the measured series: per step which blocks run, the compute saved (block
/// evaluations skipped over all), and the predicted error: per step the summed mean |Δ| of the stale residuals
/// it adds (each block's accumulated change since it last ran; a triangle-inequality bound on the hidden state's
/// mean error after the blocks), averaged over the steps.</summary>
public sealed record SimulatedPolicy(CachePolicy Policy, bool[][] Runs, double ComputeSaved, double PredictedError, double[] StepError)
{
    public string Describe()
    {
        var sb = new StringBuilder();
        for (int t = 0; t < Runs.Length; t++)
        {
            var skipped = Enumerable.Range(0, Runs[t].Length).Where(i => !Runs[t][i]).ToList();
            if (skipped.Count == 0) continue;
            if (sb.Length > 0) sb.Append("; ");
            sb.Append(CultureInfo.InvariantCulture, $"{t}:{Ranges(skipped)}");
        }
        return sb.Length == 0 ? "nothing skipped" : "skips step:blocks " + sb;
    }

    static string Ranges(List<int> xs)
    {
        var parts = new List<string>();
        for (int i = 0; i < xs.Count;)
        {
            int j = i;
            while (j + 1 < xs.Count && xs[j + 1] == xs[j] + 1) j++;
            parts.Add(i == j ? $"{xs[i]}" : $"{xs[i]}-{xs[j]}");
            i = j + 1;
        }
        return string.Join(",", parts);
    }
}

/// <summary>Replays FBCache, TeaCache and the adaptive cache on measured series (`xdit analyze --simulate`).</summary>
public static class CacheSimulator
{
    public static SimulatedPolicy Simulate(CachePolicy policy, ReplaySeries s, TeaCacheCoefficients tea)
    {
        int steps = s.Steps, n = s.Blocks;
        var runs = new bool[steps][];
        double Delta(int t) => s.Relative[0][t - 1]; // block 0's residual change into step t
        switch (policy.Method)
        {
            case "fbcache":
            {
                double acc = 0;
                for (int t = 0; t < steps; t++)
                {
                    bool skip = false;
                    if (t > 0)
                    {
                        acc += Delta(t);  // the change against the last computed step, as the sum of the steps between
                        skip = policy.Value > 0 && acc < policy.Value;
                        if (!skip) acc = 0;
                    }
                    runs[t] = Enumerable.Range(0, n).Select(i => i == 0 || !skip).ToArray();
                }
                break;
            }
            case "teacache":
            {
                if (s.TeaInput is null) throw new InvalidOperationException("teacache: the model exposes no block-0 modulated input, or it was not recorded (--targets tea_input)");
                double acc = 0;
                for (int t = 0; t < steps; t++)
                {
                    bool skip = false;
                    if (t == 0 || t == steps - 1) acc = 0;
                    else
                    {
                        acc += tea.Rescale(s.TeaInput[t - 1]);
                        if (policy.Value > 0 && acc < policy.Value) skip = true;
                        else acc = 0;
                    }
                    runs[t] = Enumerable.Repeat(!skip, n).ToArray();
                }
                break;
            }
            default:
            {
                var p = new AdaptiveBlockPolicy(policy.Value, steps, n, policy.Method == "seeded" ? s.Seed() : null);
                var since = new double[n];
                for (int t = 0; t < steps; t++)
                {
                    runs[t] = p.Plan(t, t == 0 ? double.NaN : Delta(t));
                    for (int i = 0; i < n; i++)
                    {
                        if (t > 0) since[i] += s.Relative[i][t - 1];
                        if (!runs[t][i]) continue;
                        // mean|r_i| at step t: mean_abs / relative_l1 of the transition into it is mean|r_i(t−1)|, the nearest known
                        int k = Math.Max(0, t - 1);
                        double magnitude = s.Relative[i][k] > 0 ? s.MeanAbs[i][k] / s.Relative[i][k] : 0;
                        p.Ran(i, magnitude, t == 0 ? double.NaN : since[i]);
                        since[i] = 0;
                    }
                }
                break;
            }
        }
        // predicted error and compute saved from the plan
        var last = new int[n];
        var stepError = new double[steps];
        int ran = 0;
        for (int t = 0; t < steps; t++)
            for (int i = 0; i < n; i++)
            {
                if (runs[t][i]) { last[i] = t; ran++; continue; }
                double e = 0;
                for (int k = last[i]; k < t; k++) e += s.MeanAbs[i][k];
                stepError[t] += e;
            }
        return new SimulatedPolicy(policy, runs, 1 - ran / (double)(steps * n), stepError.Average(), stepError);
    }
}
