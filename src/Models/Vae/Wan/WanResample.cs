using XDit.Kernels;
using XDit.Models.Vae.CogVideoX;
using XDit.Runtime;

namespace XDit.Models.Vae.Wan;

/// <summary>
/// diffusers' WanResample in the decoder's two modes: upsample2d, nearest 2× in height and width (nearest-exact
/// is plain nearest at an exact doubling) then a 3×3 Conv2d on every frame from C to C/2 channels (resample.1);
/// upsample3d, the same after time_conv, a causal 3×1×1 convolution from C to 2C channels whose two halves become
/// two frames (frame 2t the first C channels of t, 2t + 1 the second), so the frames double. The first latent
/// frame's chunk skips time_conv (diffusers marks its cache "Rep"): its one frame stays one, and the next chunk's
/// time_conv starts from zeros, not from that frame. The doubled frames are gathered frame-major, each repeating
/// every pixel twice along both axes, for one Conv2d over a chunk of frames (as <see cref="CogVideoXUpsample3D"/>).
/// </summary>
public sealed class WanResample
{
    public WanResample(WeightScope w, int channels, bool time)
    {
        var conv = w.Pp("resample.1");
        Weight = conv.GetOperand("weight", channels / 2, channels, 3, 3);
        Bias = conv.GetOperand("bias", channels / 2);
        if (time) TimeConv = CogVideoXCausalConv3d.LoadZeroPadded(w.Pp("time_conv"), channels, 2 * channels, 3, 1);
    }

    /// <summary>resample.1 [C/2, C, 3, 3].</summary>
    public Tensor Weight { get; }
    public Tensor Bias { get; }
    /// <summary>upsample3d's time_conv (weight [2C, C, 3, 1, 1]); null for upsample2d.</summary>
    public CogVideoXCausalConv3d? TimeConv { get; }
    public int OutChannels => Weight.Dim(0);

    /// <summary>Output frames for <paramref name="frames"/> input frames of a chunk.</summary>
    public int FramesOut(int frames, bool firstChunk) => TimeConv is null || firstChunk ? frames : 2 * frames;

    /// <summary>x [B, C, T, H, W] → [B, C/2, T', 2H, 2W], T' = <see cref="FramesOut"/>.</summary>
    public Tensor Forward(IOps ops, Tensor x, CogVideoXConvCache cache, bool firstChunk)
    {
        int b = x.Dim(0), c = x.Dim(1), t = x.Dim(2), h = x.Dim(3), w = x.Dim(4), t2 = FramesOut(t, firstChunk);
        using var doubled = t2 == t ? null : TimeConv!.Forward(ops, x, cache);   // [B, 2C, T, H, W]
        Tensor Frame(int i) => doubled is null ? x.Select(2, i) : doubled.Slice(1, (i & 1) * c, c).Select(2, i >> 1);

        return CogVideoXUpsample3D.DoubledFramesConv(ops, Frame, b, c, t2, h, w, Weight, Bias, cache.GatherElements);
    }
}
