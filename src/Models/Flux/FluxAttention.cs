using XDit.Kernels;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.Flux;

/// <summary>What Flux's double and single blocks share around the attention call.</summary>
static class FluxAttention
{
    /// <summary>Joint attention, text first, each stream rotated by its own tables (<see cref="PackedQkv.JointAttention"/>).
    /// The double block passes the text stream's own projections and norms, the single block its one set twice.</summary>
    public static AttentionResult RunPacked(IOps ops, IAttention attention, DitState state, string block, int heads,
        Tensor xHat, Linear qkv, Tensor qkNorm, Tensor cHat, Linear qkvText, Tensor qkNormText)
    {
        if (state.ImageRopeCos is null || state.ImageRopeSin is null || state.TextRopeCos is null || state.TextRopeSin is null)
            throw new InvalidOperationException($"{block}: the state has no RoPE tables");
        return PackedQkv.JointAttention(ops, attention, block, heads, new(xHat, qkv, qkNorm, state.ImageRopeCos, state.ImageRopeSin),
            new(cHat, qkvText, qkNormText, state.TextRopeCos, state.TextRopeSin), textFirst: true);
    }
}
