using XDit.Kernels.Ledger;
using XDit.Runtime;

namespace XDit.Engine.Bench;

/// <summary>
/// A GPU's roofline: memory bandwidth and dense matrix FLOP/s (bf16/f16 on the tensor cores; f32 on the CUDA cores,
/// as CudaOps' GEMMs run f32 without TF32). An op takes at least max(bytes / bandwidth, FLOPs / peak); a pass at
/// least the sum over its ops (nothing overlaps in one stream). NVIDIA's datasheet numbers: H100 SXM 3.35 TB/s,
/// 989 TFLOP/s bf16 dense, 67 TFLOP/s f32; H200 4.8 TB/s with the same compute.
/// </summary>
public sealed record GpuSpec(string Key, string Name, double BytesPerSecond, double HalfFlopsPerSecond, double F32FlopsPerSecond)
{
    public static GpuSpec H100 { get; } = new("h100", "H100 SXM", 3.35e12, 989e12, 67e12);
    public static GpuSpec H200 { get; } = new("h200", "H200", 4.8e12, 989e12, 67e12);

    public static GpuSpec Parse(string key) => key.Trim().ToLowerInvariant() switch
    {
        "h100" => H100,
        "h200" => H200,
        _ => throw new ArgumentException($"--gpu: unknown GPU '{key}' (known: h100, h200)"),
    };

    public double PeakFlops(DType mathType) => mathType == DType.F32 ? F32FlopsPerSecond : HalfFlopsPerSecond;

    /// <summary>The least time of one op on this GPU, in milliseconds; 0 for a transfer to or from the host
    /// (<see cref="LedgerReport.IsHostTransfer"/>), which is not device work.</summary>
    public double RooflineMs(LedgerEntry e) => LedgerReport.IsHostTransfer(e.Kind) ? 0
        : 1e3 * Math.Max((e.BytesRead + e.BytesWritten) / BytesPerSecond, e.Flops / PeakFlops(e.MathType));
}
