using XDit.Kernels;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.HunyuanVideo;

/// <summary>What HunyuanVideo's dual- and single-stream blocks share around the attention call.</summary>
static class HunyuanVideoAttention
{
    /// <summary>Joint attention over [video; text] (video first, as HunyuanVideoAttnProcessor2_0 concatenates), the
    /// video rows rotated, the text's not (<see cref="PackedQkv.JointAttention"/>); the padded text keys are hidden by
    /// the state's key bias (<see cref="PaddedTextKeys"/>). The dual block passes the text stream's own projections and
    /// norms, the single block its one set twice.</summary>
    public static AttentionResult RunPacked(IOps ops, IAttention attention, DitState state, string block, int heads,
        Tensor xHat, Linear qkv, Tensor qkNorm, Tensor cHat, Linear qkvText, Tensor qkNormText)
    {
        if (state.ImageRopeCos is null || state.ImageRopeSin is null)
            throw new InvalidOperationException($"{block}: the state has no RoPE tables of the video tokens");
        return PackedQkv.JointAttention(ops, attention, block, heads, new(xHat, qkv, qkNorm, state.ImageRopeCos, state.ImageRopeSin),
            new(cHat, qkvText, qkNormText, null, null), textFirst: false, PaddedTextKeys(state, xHat.Dim(1), cHat.Dim(1), block));
    }

    /// <summary>
    /// The key bias over [n held video keys; T text keys]: the state's <see cref="DitState.TextKeyBias"/> is
    /// [B, N + T], zeros for all N video tokens then the text's bias, so its last n + T columns serve any shard of
    /// n ≤ N video tokens as a view (the video keys are never hidden). Null when no text token is padded.
    /// </summary>
    static AttentionOptions? PaddedTextKeys(DitState state, int n, int t, string block)
    {
        if (state.TextKeyBias is not { } kb) return null;
        int all = kb.Dim(1);
        if (kb.Rank != 2 || all < n + t)
            throw new InvalidOperationException($"{block}: the state's text key bias {Shape.Format(kb.ShapeSpan)} does not cover {n} video and {t} text keys");
        return new AttentionOptions { KeyBias = kb.Slice(1, all - n - t, n + t) };
    }
}
