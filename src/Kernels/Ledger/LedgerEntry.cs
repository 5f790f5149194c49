using XDit.Runtime;

namespace XDit.Kernels.Ledger;

/// <summary>
/// One IOps call of a recorded pass: which op (<see cref="Kind"/>, e.g. "linear", "activate_silu"), inside which
/// block (<see cref="Scope"/>), the device launches it queued, the bytes its tensor arguments and results occupy
/// (what it must read and write at least), and its FLOPs by the op's formula (<see cref="LedgerMath"/>). FLOPs count
/// matrix math only (GEMMs, attention, convolutions), in <see cref="MathType"/>; elementwise ops are bound by their
/// bytes. <see cref="MeasuredMs"/> is the op's device time between two CUDA events, when the pass was timed.
/// </summary>
public sealed class LedgerEntry(string kind, string scope, long launches, long bytesRead, long bytesWritten, double flops, DType mathType)
{
    public string Kind { get; } = kind;
    public string Scope { get; } = scope;
    public long Launches { get; } = launches;
    public long BytesRead { get; } = bytesRead;
    public long BytesWritten { get; } = bytesWritten;
    public double Flops { get; } = flops;
    public DType MathType { get; } = mathType;
    public double? MeasuredMs { get; set; }
}
