using XDit.Kernels;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Tests.Models;

/// <summary>LocalAttention that also records the shape of each call (for checking what models hand the
/// parallel executors).</summary>
sealed class RecordingAttention : IAttention
{
    public sealed record Call(string Layer, AttentionKind Kind, int[] Q, int[] K, int[] V, int[]? JointQ, int[]? JointK, int[]? JointV, bool JointFirst);

    public List<Call> Calls { get; } = new();

    public AttentionResult Run(IOps ops, AttentionCall call)
    {
        Calls.Add(new Call(call.Layer, call.Kind, call.Q.Dims, call.K.Dims, call.V.Dims,
            call.JointQ?.Dims, call.JointK?.Dims, call.JointV?.Dims, call.JointFirst));
        return LocalAttention.Instance.Run(ops, call);
    }
}
