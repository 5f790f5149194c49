using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae.CogVideoX;

/// <summary>
/// diffusers' CogVideoXUpsample3D: nearest-neighbour 2× in height and width, then a 3×3 Conv2d on every frame. With
/// compress_time the frames double too (each repeated), except the first when the count is odd and above one, which
/// stays a single frame (T → 2T − 1); a single frame stays single. The frames are gathered frame-major
/// [T', B, C, 2H, 2W] by one copy each from the spatially doubled map, so the convolution runs once over T'·B images.
/// </summary>
public sealed class CogVideoXUpsample3D
{
    public CogVideoXUpsample3D(WeightScope w, int channels, bool compressTime)
    {
        var conv = w.Pp("conv");
        Weight = conv.GetOperand("weight", channels, channels, 3, 3);
        Bias = conv.GetOperand("bias", channels);
        CompressTime = compressTime;
    }

    public Tensor Weight { get; }
    public Tensor Bias { get; }
    public bool CompressTime { get; }

    /// <summary>Output frames for <paramref name="frames"/> input frames.</summary>
    public int FramesOut(int frames) => !CompressTime || frames <= 1 ? frames : frames % 2 == 1 ? 2 * frames - 1 : 2 * frames;

    /// <summary>x [B, C, T, H, W] → [B, C, T', 2H, 2W].</summary>
    public Tensor Forward(IOps ops, Tensor x)
    {
        int b = x.Dim(0), c = x.Dim(1), t = x.Dim(2), h = x.Dim(3), w = x.Dim(4), t2 = FramesOut(t);
        using var doubled = ops.Upsample2x(x.Reshape(b, c * t, h, w)).TakeReshaped(b, c, t, 2 * h, 2 * w);
        Tensor y;
        using (var frames = ops.Empty(x.DType, t2, b, c, 2 * h, 2 * w))
        {
            if (t2 == t) ops.Copy(frames, doubled.Permute(2, 0, 1, 3, 4));
            else
                for (int i = 0; i < t2; i++) ops.Copy(frames.Select(0, i), doubled.Select(2, Source(i, t)));
            y = ops.Conv2d(frames.Reshape(t2 * b, c, 2 * h, 2 * w), Weight, Bias, 1, 1);
        }
        using (y) return ops.Contiguous(y.Reshape(t2, b, c, 2 * h, 2 * w).Permute(1, 2, 0, 3, 4));
    }

    /// <summary>The input frame output frame <paramref name="i"/> repeats when the frames double: with an odd count
    /// frame 0 alone, then each later frame twice; with an even count each frame twice.</summary>
    static int Source(int i, int frames) => frames % 2 == 1 ? (i == 0 ? 0 : 1 + ((i - 1) >> 1)) : i >> 1;
}
