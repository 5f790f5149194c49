using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae.CogVideoX;

/// <summary>
/// diffusers' CogVideoXUpsample3D: nearest-neighbour 2× in height and width, then a 3×3 Conv2d on every frame. With
/// compress_time the frames double too (each repeated), except the first when the count is odd and above one, which
/// stays a single frame (T → 2T − 1); a single frame stays single. The doubled frames are gathered frame-major
/// [T', B, C, 2H, 2W], so one convolution runs over many frames (<see cref="Forward"/>).
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

    /// <summary>x [B, C, T, H, W] → [B, C, T', 2H, 2W]. The doubled frames are gathered frame-major for the
    /// convolution a chunk at a time, as many as fit <paramref name="gatherElements"/>, straight from x (each output
    /// frame one copy from a view of its source frame that repeats every pixel twice along both axes), and each
    /// chunk's convolution is written channel-major into the output: the doubled map is never made whole.</summary>
    public Tensor Forward(IOps ops, Tensor x, long gatherElements = CogVideoXCausalConv3d.DefaultGatherElements)
    {
        int t = x.Dim(2), t2 = FramesOut(t);
        return DoubledFramesConv(ops, i => x.Select(2, t2 == t ? i : Source(i, t)), x.Dim(0), x.Dim(1), t2, x.Dim(3), x.Dim(4), Weight, Bias, gatherElements);
    }

    /// <summary>
    /// The 3×3 convolution (<paramref name="weight"/> [O, C, 3, 3]) of <paramref name="frames"/> frames upsampled 2×
    /// by nearest neighbour, output frame i made from <paramref name="frame"/>(i) ([B, C, H, W]) → [B, O, T', 2H, 2W]:
    /// a chunk of frames (as many as fit <paramref name="gatherElements"/>) is gathered frame-major, each frame one
    /// copy from a view that repeats every pixel twice along both axes, convolved in one call and written
    /// channel-major into the output, so the doubled map is never made whole. Wan's resample shares it.
    /// </summary>
    public static Tensor DoubledFramesConv(IOps ops, Func<int, Tensor> frame, int b, int c, int frames, int h, int w,
        Tensor weight, Tensor bias, long gatherElements)
    {
        int o = weight.Dim(0);
        long perFrame = 4L * b * c * h * w;
        int chunk = (int)Math.Clamp(gatherElements / Math.Max(perFrame, 1), 1, frames);
        var output = ops.Empty(frame(0).DType, b, o, frames, 2 * h, 2 * w);   // the frames' (activation) dtype
        try
        {
            for (int t0 = 0; t0 < frames; t0 += chunk)
            {
                int tc = Math.Min(chunk, frames - t0);
                Tensor y;
                using (var gathered = ops.Empty(output.DType, tc, b, c, 2 * h, 2 * w))
                {
                    for (int i = 0; i < tc; i++)
                    {
                        var src = frame(t0 + i);   // [B, C, H, W]
                        var s = src.Strides;
                        var repeated = new Tensor(src.Storage, src.DType, [b, c, h, 2, w, 2], [s[0], s[1], s[2], 0, s[3], 0], src.Offset);
                        ops.Copy(gathered.Select(0, i).Reshape(b, c, h, 2, w, 2), repeated);
                    }
                    y = ops.Conv2d(gathered.Reshape(tc * b, c, 2 * h, 2 * w), weight, bias, 1, 1);
                }
                using (y) ops.Copy(output.Slice(2, t0, tc), y.Reshape(tc, b, o, 2 * h, 2 * w).Permute(1, 2, 0, 3, 4));
            }
        }
        catch { output.Dispose(); throw; }
        return output;
    }

    /// <summary>The input frame output frame <paramref name="i"/> repeats when the frames double: with an odd count
    /// frame 0 alone, then each later frame twice; with an even count each frame twice.</summary>
    static int Source(int i, int frames) => frames % 2 == 1 ? (i == 0 ? 0 : 1 + ((i - 1) >> 1)) : i >> 1;
}
