using XDit.Kernels;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.Flux;

/// <summary>What Flux's double and single blocks share around the attention call.</summary>
static class FluxAttention
{
    /// <summary>
    /// Joint attention (text first) from each stream's q, k and v written into its rows of one [B, T + N, 3·D] tensor
    /// (text rows first), q and k normed and rotated in their projection's epilogue (<see cref="PackedQkv"/>); the
    /// attention reads the joined rows in place (<see cref="LocalAttention"/>: no concat, no split). The double block
    /// passes the text stream's own projections and norms, the single block its one set twice.
    /// </summary>
    public static AttentionResult RunPacked(IOps ops, IAttention attention, DitState state, string block, int heads,
        Tensor xHat, Linear qkv, Tensor qkNorm, Tensor cHat, Linear qkvText, Tensor qkNormText)
    {
        if (state.ImageRopeCos is null || state.ImageRopeSin is null || state.TextRopeCos is null || state.TextRopeSin is null)
            throw new InvalidOperationException($"{block}: the state has no RoPE tables");
        int b = xHat.Dim(0), n = xHat.Dim(1), t = cHat.Dim(1), d = xHat.Dim(2), hd = d / heads;
        using var joint = ops.Empty(xHat.DType, b, t + n, 3 * d);
        PackedQkv.ProjectInto(ops, joint.Slice(1, 0, t), cHat, qkvText, qkNormText, heads, state.TextRopeCos, state.TextRopeSin);
        PackedQkv.ProjectInto(ops, joint.Slice(1, t, n), xHat, qkv, qkNorm, heads, state.ImageRopeCos, state.ImageRopeSin);
        var h = joint.Reshape(b, t + n, 3, heads, hd);
        Tensor q = h.Select(2, 0), k = h.Select(2, 1), v = h.Select(2, 2);
        Tensor qt = q.Slice(1, 0, t), kt = k.Slice(1, 0, t), qi = q.Slice(1, t, n), ki = k.Slice(1, t, n);
        var r = attention.Run(ops, new AttentionCall
        {
            Layer = block + ".attn", Kind = AttentionKind.Self, JointFirst = true,
            Q = qi, K = ki, V = v.Slice(1, t, n), JointQ = qt, JointK = kt, JointV = v.Slice(1, 0, t),
        });
        if (r.JointOutput is null)
        {
            r.Output.Dispose();
            throw new InvalidOperationException($"{block}: the attention returned no rows for the text tokens");
        }
        return r;
    }
}
