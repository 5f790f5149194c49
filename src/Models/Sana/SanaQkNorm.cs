using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Sana;

/// <summary>
/// qk_norm "rms_norm_across_heads" of one SANA attention (SANA Sprint, SANA 1.5): q and k RMS-normalised over the
/// whole inner dim (all heads at once, weights norm_q / norm_k) between the projections and the attention, before
/// linear attention's ReLU. Applied by wrapping the engine's attention, so that every executor (one rank, Ulysses,
/// Ring, ...) sees the normalised q and k exactly where diffusers computes them, without a change to the shared
/// projection layer. The eps is diffusers' Attention default (1e-5): SanaTransformerBlock does not pass norm_eps.
/// </summary>
sealed class SanaQkNorm
{
    /// <summary>diffusers' Attention(eps=1e-5) default, which its RMSNorm(dim_head · heads, eps) q/k norms take.</summary>
    public const float Eps = 1e-5f;

    readonly Tensor _q, _k;

    SanaQkNorm(Tensor q, Tensor k) { _q = q; _k = k; }

    /// <summary>norm_q.weight [<paramref name="qDim"/>] and norm_k.weight [<paramref name="kDim"/>] of an attention's scope.</summary>
    public static SanaQkNorm Load(WeightScope w, int qDim, int kDim) => new(w.Get("norm_q.weight", qDim), w.Get("norm_k.weight", kDim));

    /// <summary><paramref name="inner"/> with q and k normalised first.</summary>
    public IAttention Around(IAttention inner) => new Normed(this, inner);

    /// <summary>RMSNorm of x [B, N, H, d] (possibly a strided view of stacked projections) over H·d → [B, N, H, d].</summary>
    static Tensor AcrossHeads(IOps ops, Tensor x, Tensor weight)
    {
        int b = x.Dim(0), n = x.Dim(1), h = x.Dim(2), d = x.Dim(3);
        using var dense = x.IsContiguous ? null : ops.Contiguous(x);
        var rows = (dense ?? x).Reshape(b, n, h * d);
        return ops.RmsNorm(rows, weight, Eps).TakeReshaped(b, n, h, d);
    }

    sealed class Normed(SanaQkNorm norm, IAttention inner) : IAttention
    {
        public AttentionResult Run(IOps ops, AttentionCall call)
        {
            using var q = AcrossHeads(ops, call.Q, norm._q);
            using var k = AcrossHeads(ops, call.K, norm._k);
            return inner.Run(ops, call with { Q = q, K = k });
        }
    }
}
