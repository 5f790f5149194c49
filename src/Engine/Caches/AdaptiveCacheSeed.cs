using System.Text.Json;

namespace XDit.Engine.Caches;

/// <summary>
/// What a saved `xdit analyze` report (target residual, relative_l1) tells the adaptive cache about a model at one
/// step count: <see cref="Profile"/>[t] the mean change of block 0's residual into step t (t ≥ 1; [0] unused), and
/// <see cref="Sensitivity"/>[i] how much block i's residual changes per unit of block 0's (its mean over the run
/// divided by block 0's). The paper's finding that the pattern is stable across prompts is what makes it reusable.
/// </summary>
public sealed record AdaptiveCacheSeed(int Steps, double[] Profile, double[] Sensitivity)
{
    /// <summary>Reads the residual series of <paramref name="steps"/> from a report.json (schema 2).</summary>
    public static AdaptiveCacheSeed FromReport(string path, int steps)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var root = doc.RootElement;
        if (!root.TryGetProperty("schema_version", out var v) || v.GetInt32() < 2)
            throw new InvalidDataException($"{path}: not an `xdit analyze` report of schema 2 or later");
        var result = root.GetProperty("results").EnumerateArray().FirstOrDefault(r => r.GetProperty("steps").GetInt32() == steps);
        if (result.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"{path}: no results at {steps} steps (it has {string.Join(", ", root.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("steps").GetInt32()))}); analyse with --steps {steps}");
        var blocks = new SortedDictionary<int, double[]>();
        foreach (var s in result.GetProperty("series").EnumerateArray())
        {
            if (s.GetProperty("target").GetString() != "residual" || s.GetProperty("half").GetString() != "all") continue;
            var layer = s.GetProperty("layer").GetString()!;
            if (!s.GetProperty("metrics").TryGetProperty("relative_l1", out var rel))
                throw new InvalidDataException($"{path}: the residual series has no relative_l1; analyse with --metrics including relative_l1");
            blocks[int.Parse(layer["block ".Length..], System.Globalization.CultureInfo.InvariantCulture)] = rel.GetProperty("mean").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        }
        if (blocks.Count == 0 || !blocks.ContainsKey(0))
            throw new InvalidDataException($"{path}: no residual series at {steps} steps; analyse with --targets including residual and --cfg together");
        return From(steps, blocks.Values.ToList());
    }

    /// <summary>From per-block residual relative changes [block][transition].</summary>
    public static AdaptiveCacheSeed From(int steps, IReadOnlyList<double[]> residualChange)
    {
        var first = residualChange[0];
        var profile = new double[steps];
        for (int t = 1; t < steps; t++) profile[t] = first[t - 1];
        double baseMean = first.Average();
        var sensitivity = residualChange.Select(r => baseMean > 0 ? r.Average() / baseMean : 1).ToArray();
        return new AdaptiveCacheSeed(steps, profile, sensitivity);
    }
}
