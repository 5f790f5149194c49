using System.Diagnostics;
using System.Globalization;
using System.Text;
using XDit.Comm;

namespace XDit.Engine.Bench;

/// <summary>A parallel configuration to benchmark: CFG × Ulysses × Ring on an in-process world.</summary>
public sealed record ParallelMethod(string Name, int Cfg, int Ulysses, int Ring)
{
    public int WorldSize => Cfg * Ulysses * Ring;
    public DeviceMesh Mesh() => new(WorldSize, cfg: Cfg, ulysses: Ulysses, ring: Ring);
}

/// <summary>One benchmark row. <see cref="Skipped"/> says why a method could not run the model (its time and bytes
/// are then NaN and −1).</summary>
public sealed record ParallelStepRow(string Method, int WorldSize, double MsPerStep, long BytesSentPerRankPerStep, string? Skipped = null);

/// <summary>
/// Time of one denoising step (one <see cref="Execution.MeshExecutor"/> Predict on every rank) and the bytes each
/// rank sends per step, for the in-process communicator on the CPU. The ranks share this machine's cores, so the
/// times show the overhead of splitting and communicating, not a speed-up; the bytes are what a real interconnect
/// would carry.
/// </summary>
public static class ParallelStepBenchmark
{
    /// <summary>The methods benchmarked at a world size: 1 → single rank; 2 → ulysses 2, ring 2, cfg 2;
    /// 4 → ulysses 4, ring 4, ulysses 2 × ring 2, cfg 2 × ulysses 2, cfg 2 × ring 2; 8 → cfg 2 × ulysses 2 × ring 2,
    /// ulysses 2 × ring 4.</summary>
    public static IReadOnlyList<ParallelMethod> MethodsFor(int worldSize) => worldSize switch
    {
        1 => [new("single", 1, 1, 1)],
        2 => [new("ulysses 2", 1, 2, 1), new("ring 2", 1, 1, 2), new("cfg 2", 2, 1, 1)],
        4 => [new("ulysses 4", 1, 4, 1), new("ring 4", 1, 1, 4), new("ulysses 2 × ring 2", 1, 2, 2), new("cfg 2 × ulysses 2", 2, 2, 1), new("cfg 2 × ring 2", 2, 1, 2)],
        8 => [new("cfg 2 × ulysses 2 × ring 2", 2, 2, 2), new("ulysses 2 × ring 4", 1, 2, 4)],
        _ => throw new ArgumentException($"no benchmark methods for world size {worldSize} (choose 1, 2, 4 or 8)"),
    };

    /// <summary>Runs every method of every world size on <paramref name="workload"/>: <paramref name="warmup"/>
    /// untimed steps, then the mean of <paramref name="steps"/> timed ones.</summary>
    public static IReadOnlyList<ParallelStepRow> Run(IEnumerable<int> worldSizes, IStepWorkload workload, int steps = 3, int warmup = 1)
    {
        var rows = new List<ParallelStepRow>();
        foreach (var size in worldSizes)
            foreach (var m in MethodsFor(size))
                rows.Add(Measure(m, workload, steps, warmup));
        return rows;
    }

    /// <summary>One method: <paramref name="warmup"/> untimed steps, then the mean of <paramref name="steps"/> timed
    /// ones, and the most bytes any rank sent per timed step. A method the model cannot run gives a skipped row.</summary>
    public static ParallelStepRow Measure(ParallelMethod m, IStepWorkload workload, int steps = 3, int warmup = 1)
    {
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), $"need at least one timed step, got {steps}");
        if (Impossible(m, workload) is { } why) return new(m.Name, m.WorldSize, double.NaN, -1, why);
        using var session = new ParallelStepSession(m.Mesh(), workload);
        for (int i = 0; i < warmup; i++) session.Step();
        var before = session.World.BytesSentPerRank();
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < steps; i++) session.Step();
        double ms = sw.Elapsed.TotalMilliseconds / steps;
        var after = session.World.BytesSentPerRank();
        long maxBytes = after.Zip(before, (a, b) => a - b).Max();
        return new(m.Name, m.WorldSize, ms, maxBytes / steps);
    }

    /// <summary>The demo model's transformer (models/demo/transformer) on a <paramref name="latentSize"/>² latent.</summary>
    public static IReadOnlyList<ParallelStepRow> Run(IEnumerable<int> worldSizes, string transformerDir, int latentSize = 16, int steps = 3, int warmup = 1) =>
        Run(worldSizes, new PixArtStepWorkload(transformerDir, latentSize), steps, warmup);

    static string? Impossible(ParallelMethod m, IStepWorkload w)
    {
        if (w.Heads % m.Ulysses != 0) return $"{w.Heads} heads do not divide by ulysses {m.Ulysses}";
        if (w.ImageTokens % (m.Ulysses * m.Ring) != 0) return $"{w.ImageTokens} tokens do not split over sp {m.Ulysses * m.Ring}";
        if (w.Rows % m.Cfg != 0) return $"{w.Rows} rows do not split over cfg {m.Cfg}";
        return null;
    }

    /// <summary>The rows as a Markdown table.</summary>
    public static string Format(IEnumerable<ParallelStepRow> rows)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| method | world | ms / step | bytes sent / rank / step |");
        sb.AppendLine("|---|---:|---:|---:|");
        foreach (var r in rows)
            sb.AppendLine(r.Skipped is not null
                ? $"| {r.Method} | {r.WorldSize} | – | skipped: {r.Skipped} |"
                : string.Create(CultureInfo.InvariantCulture, $"| {r.Method} | {r.WorldSize} | {r.MsPerStep:F1} | {r.BytesSentPerRankPerStep:N0} |"));
        return sb.ToString();
    }
}
