using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae.Wan;

/// <summary>
/// diffusers' WanAttentionBlock: on every frame alone, out = x + proj(SDPA(q, k, v)) with one head of width C over
/// the frame's H·W pixels taken row-major, q, k, v = to_qkv(norm(x)) (a 1×1 convolution, channels q then k then v),
/// the softmax scale 1/√C. The norm's channels-last result is already the token matrix [B·T, H·W, C], so to_qkv and
/// proj are GEMMs on it and the residual sum reads proj's output through a permuted view.
/// </summary>
public sealed class WanAttentionBlock
{
    public WanAttentionBlock(WeightScope w, int channels)
    {
        Channels = channels;
        Norm = WanRmsNorm.Load(w.Pp("norm"), channels, images: true);
        var qkv = w.Pp("to_qkv");
        ToQkv = new Linear(qkv.GetOperand("weight", 3 * channels, channels, 1, 1).Reshape(3 * channels, channels), qkv.GetOperand("bias", 3 * channels));
        var proj = w.Pp("proj");
        Proj = new Linear(proj.GetOperand("weight", channels, channels, 1, 1).Reshape(channels, channels), proj.GetOperand("bias", channels));
    }

    public int Channels { get; }
    public WanRmsNorm Norm { get; }
    public Linear ToQkv { get; }
    public Linear Proj { get; }

    /// <summary>x [B, C, T, H, W] → x + attention of each frame, [B, C, T, H, W].</summary>
    public Tensor Forward(IOps ops, Tensor x)
    {
        int b = x.Dim(0), c = Channels, t = x.Dim(2), h = x.Dim(3), w = x.Dim(4), n = h * w, frames = b * t;
        Tensor qkv;
        using (var normed = Norm.ChannelsLast(ops, x, Activation.None))   // [B, T, H, W, C]: frames × tokens × C
            qkv = ToQkv.Apply(ops, normed.Reshape(frames, n, c));
        Tensor attended;
        using (qkv)
        {
            var parts = qkv.Reshape(frames, n, 3, 1, c);
            attended = ops.Attention(parts.Select(2, 0), parts.Select(2, 1), parts.Select(2, 2));   // [B·T, N, 1, C]
        }
        Tensor projected;
        using (attended) projected = Proj.Apply(ops, attended.Reshape(frames, n, c));
        using (projected) return ops.Add(x, projected.Reshape(b, t, h, w, c).Permute(0, 4, 1, 2, 3));
    }
}
