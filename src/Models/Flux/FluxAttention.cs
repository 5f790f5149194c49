using XDit.Kernels;
using XDit.Models.Embeddings;
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

    /// <summary>Joint attention with the text first, as Flux concatenates [text; image].</summary>
    public static AttentionCall Call(string layer, Tensor q, Tensor k, Tensor v, Tensor qc, Tensor kc, Tensor vc, int heads) => new()
    {
        Layer = layer,
        Kind = AttentionKind.Self,
        Q = q, K = k, V = HeadProjection.AsHeads(v, heads),
        JointQ = qc, JointK = kc, JointV = HeadProjection.AsHeads(vc, heads),
        JointFirst = true,
    };
}
