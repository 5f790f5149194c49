using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae.Wan;

/// <summary>
/// diffusers' WanRMS_norm as the decoder builds it (channel_first, bias false): at every pixel of every frame,
/// x / max(‖x‖₂, 1e-12) over the channels, times √C · gamma. Since ‖x‖₂ / √C is the root mean square, that is
/// the RmsNorm op over the channel axis, x·rsqrt(mean_c(x²) + eps)·gamma, with eps = 1e-24 / C standing for the
/// norm's floor (equal wherever ‖x‖ is above 1e-12; both give 0 at 0). <see cref="ChannelsFirst"/> runs it in
/// place of the channels (the ChannelRmsNorm op, SiLU in its pass: the residual blocks, norm_out);
/// <see cref="ChannelsLast"/> moves them last (the RmsNorm op), which the attention's GEMMs want.
/// </summary>
public sealed class WanRmsNorm
{
    WanRmsNorm(string name, Tensor weight, float eps)
    {
        Name = name;
        Weight = weight;
        Eps = eps;
    }

    public string Name { get; }
    /// <summary>gamma [C], in the checkpoint's dtype (a view of the loaded tensor).</summary>
    public Tensor Weight { get; }
    public float Eps { get; }
    public int Channels => Weight.Dim(0);

    /// <summary>Loads <c>{w}.gamma</c>, [C, 1, 1, 1] in the residual blocks and norm_out, [C, 1, 1] in the
    /// attention (images).</summary>
    public static WanRmsNorm Load(WeightScope w, int channels, bool images)
    {
        var gamma = images ? w.Get("gamma", channels, 1, 1) : w.Get("gamma", channels, 1, 1, 1);
        return new WanRmsNorm(w.Prefix, gamma.Reshape(channels), 1e-24f / channels);
    }

    /// <summary>x [B, C, T, H, W] (any strides) → act(norm(x)) [B, C, T, H, W], contiguous.</summary>
    public Tensor ChannelsFirst(IOps ops, Tensor x, Activation act)
    {
        if (x.Rank != 5 || x.Dim(1) != Channels)
            throw new ArgumentException($"{Name}: expects x [B, {Channels}, T, H, W], got {Shape.Format(x.ShapeSpan)}");
        return ops.ChannelRmsNorm(x, Weight, Eps, act);
    }

    /// <summary>x [B, C, T, H, W] (any strides) → act(norm(x)) channels-last [B, T, H, W, C]; the caller owns it
    /// (<c>.Permute(0, 4, 1, 2, 3)</c> views it as [B, C, T, H, W]).</summary>
    public Tensor ChannelsLast(IOps ops, Tensor x, Activation act)
    {
        if (x.Rank != 5 || x.Dim(1) != Channels)
            throw new ArgumentException($"{Name}: expects x [B, {Channels}, T, H, W], got {Shape.Format(x.ShapeSpan)}");
        var normed = ops.RmsNorm(x.Permute(0, 2, 3, 4, 1), Weight, Eps);
        if (act == Activation.None) return normed;
        using (normed) return ops.Activate(normed, act);
    }
}
