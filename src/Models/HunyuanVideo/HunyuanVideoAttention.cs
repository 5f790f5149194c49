using XDit.Kernels;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.HunyuanVideo;

/// <summary>What HunyuanVideo's dual- and single-stream blocks share around the attention call.</summary>
static class HunyuanVideoAttention
{
    /// <summary>
    /// Joint attention over [video; text] (video first, as HunyuanVideoAttnProcessor2_0 concatenates) from each
    /// stream's q, k and v written into its rows of one [B, n + T, 3·D] tensor, q and k normed in their projection's
    /// epilogue (<see cref="PackedQkv"/>), rotated on the video rows only; the attention reads the joined rows in
    /// place. The padded text keys are hidden by the state's key bias (<see cref="PaddedTextKeys"/>). The dual block
    /// passes the text stream's own projections and norms, the single block its one set twice.
    /// </summary>
    public static AttentionResult RunPacked(IOps ops, IAttention attention, DitState state, string block, int heads,
        Tensor xHat, Linear qkv, Tensor qkNorm, Tensor cHat, Linear qkvText, Tensor qkNormText)
    {
        if (state.ImageRopeCos is null || state.ImageRopeSin is null)
            throw new InvalidOperationException($"{block}: the state has no RoPE tables of the video tokens");
        int b = xHat.Dim(0), n = xHat.Dim(1), t = cHat.Dim(1), d = xHat.Dim(2), hd = d / heads;
        using var joint = ops.Empty(xHat.DType, b, n + t, 3 * d);
        PackedQkv.ProjectInto(ops, joint.Slice(1, 0, n), xHat, qkv, qkNorm, heads, state.ImageRopeCos, state.ImageRopeSin);
        PackedQkv.ProjectInto(ops, joint.Slice(1, n, t), cHat, qkvText, qkNormText, heads, null, null);
        var h = joint.Reshape(b, n + t, 3, heads, hd);
        Tensor q = h.Select(2, 0), k = h.Select(2, 1), v = h.Select(2, 2);
        Tensor qi = q.Slice(1, 0, n), ki = k.Slice(1, 0, n), qt = q.Slice(1, n, t), kt = k.Slice(1, n, t);
        var r = attention.Run(ops, new AttentionCall
        {
            Layer = block + ".attn", Kind = AttentionKind.Self, JointFirst = false,
            Q = qi, K = ki, V = v.Slice(1, 0, n), JointQ = qt, JointK = kt, JointV = v.Slice(1, n, t),
            Options = PaddedTextKeys(state, n, t, block),
        });
        if (r.JointOutput is null)
        {
            r.Output.Dispose();
            throw new InvalidOperationException($"{block}: the attention returned no rows for the text tokens");
        }
        return r;
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
