using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using XDit.Kernels;
using XDit.Kernels.Cpu;
using XDit.Runtime;

namespace XDit.Bench;

/// <summary>
/// CpuOps GEMM throughput at M = N = K = Size: Linear (x·Wᵀ), MatMul (A·B and A·Bᵀ), against a plain scalar
/// triple loop as the baseline. The GFLOP/s column is 2·M·N·K divided by the mean time.
/// Run: dotnet run -c Release --project bench/XDit.Bench -- --filter '*Gemm*' --job short
/// </summary>
[Config(typeof(GemmConfig))]
public class GemmBenchmarks
{
    [Params(1024)]
    public int Size { get; set; }

    CpuOps _ops = null!;
    Tensor _a = null!, _b = null!;
    float[] _af = [], _bf = [], _cf = [];

    [GlobalSetup]
    public void Setup()
    {
        _ops = new CpuOps();
        var r = new Random(1);
        _af = Enumerable.Range(0, Size * Size).Select(_ => (float)r.NextDouble() - 0.5f).ToArray();
        _bf = Enumerable.Range(0, Size * Size).Select(_ => (float)r.NextDouble() - 0.5f).ToArray();
        _cf = new float[Size * Size];
        _a = _ops.FromHost(_af, Size, Size);
        _b = _ops.FromHost(_bf, Size, Size);
    }

    [GlobalCleanup]
    public void Cleanup() { _a.Dispose(); _b.Dispose(); _ops.Dispose(); }

    [Benchmark]
    public void Linear() { using var y = _ops.Linear(_a, _b); }

    [Benchmark]
    public void MatMul() { using var y = _ops.MatMul(_a, _b); }

    [Benchmark]
    public void MatMulTransposedB() { using var y = _ops.MatMul(_a, _b, transposeB: true); }

    /// <summary>y[m, n] = Σ_k x[m, k]·w[n, k], one scalar multiply-add at a time: the "obviously correct" loop.</summary>
    [Benchmark(Baseline = true)]
    public void NaiveLoop()
    {
        int n = Size;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                float acc = 0;
                for (int k = 0; k < n; k++) acc += _af[i * n + k] * _bf[j * n + k];
                _cf[i * n + j] = acc;
            }
    }
}

sealed class GemmConfig : ManualConfig
{
    public GemmConfig() => AddColumn(new GflopsColumn());
}

/// <summary>2·Size³ floating-point operations divided by the mean time.</summary>
sealed class GflopsColumn : IColumn
{
    public string Id => nameof(GflopsColumn);
    public string ColumnName => "GFLOP/s";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "2·Size³ / mean time, in 10⁹ floating-point operations per second";
    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var stats = summary[benchmarkCase]?.ResultStatistics;
        if (stats is null) return "NA";
        var size = benchmarkCase.Parameters["Size"] is int s ? s : 0;
        double flops = 2.0 * size * size * size;
        return (flops / stats.Mean).ToString("F2"); // mean is in ns, so flops/ns = GFLOP/s
    }
}
