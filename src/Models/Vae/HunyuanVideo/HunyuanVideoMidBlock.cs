using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae.HunyuanVideo;

/// <summary>diffusers' HunyuanVideoMidBlock3D in the decoder: a resnet, the attention under the causal frame mask
/// (when mid_block_add_attention), a second resnet; all at the block's width.</summary>
public sealed class HunyuanVideoMidBlock
{
    public HunyuanVideoMidBlock(WeightScope w, int channels, int groups, bool attention)
    {
        var resnets = w.Pp("resnets");
        First = new HunyuanVideoResnetBlock(resnets.Pp(0), channels, channels, groups);
        if (attention) Attention = new HunyuanVideoMidAttention(w.Pp("attentions").Pp(0), channels, groups);
        Second = new HunyuanVideoResnetBlock(resnets.Pp(1), channels, channels, groups);
    }

    public HunyuanVideoResnetBlock First { get; }
    public HunyuanVideoMidAttention? Attention { get; }
    public HunyuanVideoResnetBlock Second { get; }

    /// <summary>x [B, C, T, H, W] (kept) → [B, C, T, H, W].</summary>
    public Tensor Forward(IOps ops, Tensor x, long gatherElements)
    {
        var h = First.Forward(ops, x, gatherElements);
        if (Attention is not null)
        {
            using var before = h;
            h = Attention.Forward(ops, before);
        }
        using (h) return Second.Forward(ops, h, gatherElements);
    }
}
