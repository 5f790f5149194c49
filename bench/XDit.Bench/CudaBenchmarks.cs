using BenchmarkDotNet.Attributes;
using XDit.Kernels.Cuda;
using XDit.Runtime;
using XDit.Runtime.Cuda;

namespace XDit.Bench;

/// <summary>
/// GPU throughput: bf16 GEMM at 8192³ and attention at PixArt-1024 (4096 tokens × 16 heads × 72) and SD3/Flux-like
/// (4608 tokens × 24 heads × 128) sizes. Each benchmark queues one op and waits for it; TFLOP/s (timed with CUDA
/// events over 20 runs) are printed at cleanup. Without a CUDA device every benchmark returns at once and setup
/// prints why, so a CPU-only run of the suite still completes.
/// Run: dotnet run -c Release --project bench/XDit.Bench -- --filter '*CudaBenchmarks*'
/// </summary>
[MemoryDiagnoser(false)]
public class CudaBenchmarks
{
    CudaOps? _ops;
    Tensor? _a, _b, _q1, _k1, _v1, _q2, _k2, _v2;

    [GlobalSetup]
    public void Setup()
    {
        if (!CudaOps.IsAvailable(out var reason))
        {
            Console.WriteLine($"CudaBenchmarks skipped: {reason}");
            return;
        }
        _ops = new CudaOps(0, DType.BF16);
        _a = Random(_ops, 1, 8192, 8192);
        _b = Random(_ops, 2, 8192, 8192);
        (_q1, _k1, _v1) = (Random(_ops, 3, 1, 4096, 16, 72), Random(_ops, 4, 1, 4096, 16, 72), Random(_ops, 5, 1, 4096, 16, 72));
        (_q2, _k2, _v2) = (Random(_ops, 6, 1, 4608, 24, 128), Random(_ops, 7, 1, 4608, 24, 128), Random(_ops, 8, 1, 4608, 24, 128));
        _ops.Synchronize();
    }

    static Tensor Random(CudaOps ops, int seed, params int[] shape)
    {
        var r = new Random(seed);
        var x = new float[Shape.Product(shape)];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(r.NextDouble() * 2 - 1);
        return ops.FromHost(x, shape);
    }

    // FLOPs: GEMM 2·M·N·K; attention 4·B·H·Nq·Nk·d (QKᵀ and PV)
    const double GemmFlops = 2.0 * 8192 * 8192 * 8192;
    const double Attn72Flops = 4.0 * 16 * 4096 * 4096 * 72;
    const double Attn128Flops = 4.0 * 24 * 4608 * 4608 * 128;

    [Benchmark(Description = "bf16 GEMM 8192³")]
    public void Gemm8192()
    {
        if (_ops is null) return;
        using var y = _ops.Linear(_a!, _b!);
        _ops.Synchronize();
    }

    [Benchmark(Description = "attention bf16 4096×16×72")]
    public void Attention4096x16x72()
    {
        if (_ops is null) return;
        using var o = _ops.Attention(_q1!, _k1!, _v1!);
        _ops.Synchronize();
    }

    [Benchmark(Description = "attention bf16 4608×24×128")]
    public void Attention4608x24x128()
    {
        if (_ops is null) return;
        using var o = _ops.Attention(_q2!, _k2!, _v2!);
        _ops.Synchronize();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        if (_ops is null) return;
        Console.WriteLine($"bf16 GEMM 8192³: {Tflops(() => _ops.Linear(_a!, _b!), GemmFlops):F1} TFLOP/s");
        Console.WriteLine($"attention 4096×16×72: {Tflops(() => _ops.Attention(_q1!, _k1!, _v1!), Attn72Flops):F1} TFLOP/s");
        Console.WriteLine($"attention 4608×24×128: {Tflops(() => _ops.Attention(_q2!, _k2!, _v2!), Attn128Flops):F1} TFLOP/s");
        foreach (var t in new[] { _a, _b, _q1, _k1, _v1, _q2, _k2, _v2 }) t?.Dispose();
        _ops.Dispose();
        _ops = null;
    }

    /// <summary>Device-timed TFLOP/s over 20 runs after 3 warm-ups.</summary>
    double Tflops(Func<Tensor> op, double flops)
    {
        for (int i = 0; i < 3; i++) op().Dispose();
        using var start = new CudaEvent(timing: true);
        using var end = new CudaEvent(timing: true);
        start.Record(_ops!.Stream);
        const int runs = 20;
        for (int i = 0; i < runs; i++) op().Dispose();
        end.Record(_ops.Stream);
        end.Synchronize();
        double seconds = end.ElapsedSince(start) / 1000.0 / runs;
        return flops / seconds / 1e12;
    }
}
