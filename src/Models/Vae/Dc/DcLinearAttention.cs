using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae.Dc;

/// <summary>
/// diffusers' SanaMultiscaleLinearAttention as the DC-AE's EfficientViTBlock uses it (residual on, RMSNorm out):
/// Q, K, V by 1×1 projections (to_q/to_k/to_v, run as one stacked 1×1 convolution), each multi-scale branch a
/// depth-wise k×k then a grouped 1×1 convolution (3·heads groups) over all of Q|K|V, the branches concatenated on
/// channels; every 3·head_dim consecutive channels then form one head's (q, k, v), each head_dim wide (the
/// channel order diffusers reshapes in, not the to_q/to_k/to_v split). ReLU linear attention per head (eps
/// 1e-15), to_out over the heads' outputs, RMSNorm over channels, plus x.
/// diffusers switches to a "quadratic" form when H·W ≤ head_dim; it computes the same quantity
/// (Σ_m v_m (k_m·q_n) / (Σ_m k_m·q_n + eps)) in another order, so the linear form serves every size.
/// </summary>
public sealed class DcLinearAttention
{
    /// <summary>diffusers' SanaMultiscaleLinearAttention eps.</summary>
    public const float Eps = 1e-15f;

    public DcLinearAttention(WeightScope w, int channels, int headDim, int[] kernelSizes)
    {
        Name = w.Prefix;
        HeadDim = headDim;
        Heads = channels / headDim;
        int inner = Heads * headDim;
        var (qkv, _) = w.Stack(w.Linear("to_q", channels, inner, bias: false), w.Linear("to_k", channels, inner, bias: false),
            w.Linear("to_v", channels, inner, bias: false));
        Qkv = new DcConv(w.Name("to_qkv"), qkv.Weight.Reshape(3 * inner, channels, 1, 1), null, 1);
        var scales = new (DcConv, DcConv)[kernelSizes.Length];
        for (int i = 0; i < scales.Length; i++)
        {
            var s = w.Pp("to_qkv_multiscale").Pp(i);
            scales[i] = (DcConv.Load(s.Pp("proj_in"), 3 * inner, 3 * inner, kernelSizes[i], bias: false, groups: 3 * inner),
                DcConv.Load(s.Pp("proj_out"), 3 * inner, 3 * inner, 1, bias: false, groups: 3 * Heads));
        }
        Multiscale = scales;
        ToOut = w.Linear("to_out", inner * (1 + kernelSizes.Length), channels, bias: false);
        NormOut = ChannelRmsNorm.Load(w.Pp("norm_out"), channels);
    }

    public string Name { get; }
    public int Heads { get; }
    public int HeadDim { get; }
    /// <summary>to_q, to_k, to_v stacked: a 1×1 convolution [3·inner, C, 1, 1].</summary>
    public DcConv Qkv { get; }
    /// <summary>Per kernel size: proj_in (depth-wise k×k) and proj_out (grouped 1×1).</summary>
    public IReadOnlyList<(DcConv ProjIn, DcConv ProjOut)> Multiscale { get; }
    public Linear ToOut { get; }
    public ChannelRmsNorm NormOut { get; }

    /// <summary>x [B, C, H, W] → x + attention(x).</summary>
    public Tensor Forward(IOps ops, Tensor x, DcSpatialOps spatial)
    {
        int b = x.Dim(0), c = x.Dim(1), h = x.Dim(2), w = x.Dim(3), n = h * w, d = HeadDim;
        var parts = new List<Tensor>();
        try
        {
            parts.Add(spatial.Conv(ops, x, Qkv));
            foreach (var (projIn, projOut) in Multiscale)
            {
                using var local = spatial.Conv(ops, parts[0], projIn);
                parts.Add(spatial.Conv(ops, local, projOut));
            }
            using var all = parts.Count == 1 ? ops.Contiguous(parts[0]) : ops.Concat(1, parts.ToArray());
            int heads = all.Dim(1) / (3 * d);
            // all [B, heads·3·d, H·W] read as [B, N, heads, d] for each of q (offset 0), k (d) and v (2d) channels
            long[] strides = [(long)all.Dim(1) * n, 1, 3L * d * n, n];
            Tensor View(int part) => new(all.Storage, all.DType, [b, n, heads, d], strides, all.Offset + (long)part * d * n);
            using var sums = spatial.LinearAttentionSums(ops, View(1), View(2));
            using var o = ops.LinearAttentionApply(View(0), sums, Eps);              // [B, N, heads, d]
            using var projected = ToOut.Apply(ops, o.Reshape(b, n, heads * d));       // [B, N, C], head-major channels
            using var normed = NormOut.ForwardLast(ops, projected);
            return ops.Add(x, normed.Reshape(b, h, w, c).Permute(0, 3, 1, 2));
        }
        finally { foreach (var p in parts) p.Dispose(); }
    }
}
