using XDit.Models.Vae.CogVideoX;
using XDit.Runtime;

namespace XDit.Models.Vae.Wan;

/// <summary>diffusers' WanMidBlock (num_layers 1): a residual block, the per-frame single-head attention, a second
/// residual block, all at the mid width.</summary>
public sealed class WanMidBlock
{
    public WanMidBlock(WeightScope w, int channels)
    {
        First = new WanResidualBlock(w.Pp("resnets").Pp(0), channels, channels);
        Attention = new WanAttentionBlock(w.Pp("attentions").Pp(0), channels);
        Second = new WanResidualBlock(w.Pp("resnets").Pp(1), channels, channels);
    }

    public WanResidualBlock First { get; }
    public WanAttentionBlock Attention { get; }
    public WanResidualBlock Second { get; }

    /// <summary>x [B, C, T, H, W] (kept) → [B, C, T, H, W].</summary>
    public Tensor Forward(XDit.Kernels.IOps ops, Tensor x, CogVideoXConvCache cache)
    {
        Tensor a;
        using (var h = First.Forward(ops, x, cache)) a = Attention.Forward(ops, h);
        using (a) return Second.Forward(ops, a, cache);
    }
}
