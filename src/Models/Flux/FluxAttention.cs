using XDit.Kernels;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.Flux;

/// <summary>What Flux's double and single blocks share around the attention call.</summary>
static class FluxAttention
{
    /// <summary>RoPE (interleaved pairs) on projected q or k, consuming <paramref name="projected"/>.</summary>
    public static Tensor Rotate(IOps ops, Tensor projected, int heads, Tensor? cos, Tensor? sin, string layer)
    {
        using (projected)
        {
            if (cos is null || sin is null) throw new InvalidOperationException($"{layer}: the state has no RoPE tables");
            return ops.Rope(HeadProjection.AsHeads(projected, heads), cos, sin, interleaved: true);
        }
    }

    /// <summary>
    /// Projects the normalised image and text rows to q/k/v, rotates q and k with each stream's RoPE table, and runs
    /// joint attention (text first). The double block passes separate text projections; the single block the same ones.
    /// </summary>
    public static AttentionResult Run(IOps ops, IAttention attention, DitState state, string block, int heads,
        Tensor xHat, HeadProjection q, HeadProjection k, HeadProjection v,
        Tensor cHat, HeadProjection qc, HeadProjection kc, HeadProjection vc)
    {
        using var qi = Rotate(ops, q.Apply(ops, xHat), heads, state.ImageRopeCos, state.ImageRopeSin, block);
        using var ki = Rotate(ops, k.Apply(ops, xHat), heads, state.ImageRopeCos, state.ImageRopeSin, block);
        using var vi = v.Apply(ops, xHat);
        using var qt = Rotate(ops, qc.Apply(ops, cHat), heads, state.TextRopeCos, state.TextRopeSin, block);
        using var kt = Rotate(ops, kc.Apply(ops, cHat), heads, state.TextRopeCos, state.TextRopeSin, block);
        using var vt = vc.Apply(ops, cHat);
        var r = attention.Run(ops, Call(block + ".attn", qi, ki, vi, qt, kt, vt, heads));
        if (r.JointOutput is null)
        {
            r.Output.Dispose();
            throw new InvalidOperationException($"{block}: the attention returned no rows for the text tokens");
        }
        return r;
    }

    /// <summary>Joint attention with the text first, as Flux concatenates [text; image].</summary>
    static AttentionCall Call(string layer, Tensor q, Tensor k, Tensor v, Tensor qc, Tensor kc, Tensor vc, int heads) => new()
    {
        Layer = layer,
        Kind = AttentionKind.Self,
        Q = q, K = k, V = HeadProjection.AsHeads(v, heads),
        JointQ = qc, JointK = kc, JointV = HeadProjection.AsHeads(vc, heads),
        JointFirst = true,
    };
}
