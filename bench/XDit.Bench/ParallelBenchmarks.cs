using System.Collections.Concurrent;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using XDit.Engine.Bench;

namespace XDit.Bench;

/// <summary>
/// One denoising step of the demo PixArt transformer (models/demo/transformer, 6 heads, 8 layers) on a 16×16 latent
/// (256 tokens), two rows ([negative; positive]), on in-process CPU ranks under each parallel method, with the bytes
/// each rank sends per step. The ranks share this machine's cores: the times show the cost of splitting and
/// communicating, not a speed-up. Ulysses 4 is skipped (6 heads).
/// Run: dotnet run -c Release --project bench/XDit.Bench -- --filter '*Parallel*' --job short
/// </summary>
[Config(typeof(ParallelConfig))]
public class ParallelBenchmarks
{
    public static IEnumerable<string> Methods() =>
        new[] { 1, 2, 4 }.SelectMany(ParallelStepBenchmark.MethodsFor).Where(m => Workload.Heads % m.Ulysses == 0).Select(m => m.Name);

    [ParamsSource(nameof(Methods))]
    public string Parallel { get; set; } = "single";

    ParallelStepSession _session = null!;

    internal static PixArtStepWorkload Workload => new(DemoTransformer(), latentSize: 16);

    internal static ParallelMethod Find(string name) =>
        new[] { 1, 2, 4, 8 }.SelectMany(ParallelStepBenchmark.MethodsFor).First(m => m.Name == name);

    [GlobalSetup]
    public void Setup() => _session = new ParallelStepSession(Find(Parallel).Mesh(), Workload);

    [GlobalCleanup]
    public void Cleanup() => _session.Dispose();

    [Benchmark]
    public void Step() => _session.Step();

    /// <summary>models/demo/transformer above the running binary (BenchmarkDotNet builds below the repository), or
    /// the folder XDIT_DEMO_TRANSFORMER names.</summary>
    static string DemoTransformer()
    {
        if (Environment.GetEnvironmentVariable("XDIT_DEMO_TRANSFORMER") is { Length: > 0 } given) return given;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "XDit.sln"))) return Path.Combine(dir.FullName, "models", "demo", "transformer");
        throw new DirectoryNotFoundException($"no XDit.sln above {AppContext.BaseDirectory}; set XDIT_DEMO_TRANSFORMER to the demo transformer folder");
    }
}

sealed class ParallelConfig : ManualConfig
{
    public ParallelConfig() => AddColumn(new BytesPerStepColumn());
}

/// <summary>Bytes the busiest rank sends per step, measured by one step in the host process (they do not vary
/// between steps, and the benchmark process's counters are not visible here).</summary>
sealed class BytesPerStepColumn : IColumn
{
    static readonly ConcurrentDictionary<string, long> Cache = new();

    public string Id => nameof(BytesPerStepColumn);
    public string ColumnName => "Bytes/rank/step";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Size;
    public string Legend => "bytes the busiest rank sends in one denoising step (in-process communicator counters)";
    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        if (benchmarkCase.Parameters["Parallel"] is not string name) return "NA";
        long bytes = Cache.GetOrAdd(name, n => ParallelStepBenchmark.Measure(ParallelBenchmarks.Find(n), ParallelBenchmarks.Workload, steps: 1, warmup: 0).BytesSentPerRankPerStep);
        return bytes.ToString("N0");
    }
}
