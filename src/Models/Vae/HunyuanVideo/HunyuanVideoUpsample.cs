using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae.HunyuanVideo;

/// <summary>
/// diffusers' HunyuanVideoUpsampleCausal3D: nearest-neighbour upsampling, then a causal 3×3×3 convolution
/// (<see cref="HunyuanVideoCausalConv3d"/>). The first frame is upsampled in height and width only; the others by the
/// block's (time, height, width) factors, so with a time factor 2 each later frame is repeated (T → 2T − 1) and the
/// first stays single. The upsampled frames are never made whole: the convolution's gather copies each from a view of
/// its source frame that repeats every pixel along both axes (stride 0).
/// </summary>
public sealed class HunyuanVideoUpsample
{
    public HunyuanVideoUpsample(WeightScope w, int inChannels, int outChannels, bool space, bool time)
    {
        Conv = HunyuanVideoCausalConv3d.Load(w.Pp("conv"), inChannels, outChannels, 3);
        Space = space;
        Time = time;
    }

    public HunyuanVideoCausalConv3d Conv { get; }
    /// <summary>Doubles height and width.</summary>
    public bool Space { get; }
    /// <summary>Doubles the frames after the first.</summary>
    public bool Time { get; }

    /// <summary>Output frames for <paramref name="frames"/> input frames.</summary>
    public int FramesOut(int frames) => Time ? 1 + 2 * (frames - 1) : frames;

    /// <summary>x [B, C, T, H, W] → [B, O, <see cref="FramesOut"/>(T), rH, rW] (r = 2 when <see cref="Space"/>).</summary>
    public Tensor Forward(IOps ops, Tensor x, long gatherElements)
    {
        int b = x.Dim(0), t = x.Dim(2), h = x.Dim(3), w = x.Dim(4), r = Space ? 2 : 1;
        return Conv.Forward(ops, b, FramesOut(t), r * h, r * w, (dst, first, n) =>
        {
            for (int i = 0; i < n; i++) CopyRepeated(ops, dst.Select(0, i), x.Select(2, Source(first + i)), r);
        }, null, gatherElements);
    }

    /// <summary>The input frame output frame <paramref name="i"/> repeats: frame 0 alone, then with time doubling
    /// each later frame twice.</summary>
    int Source(int i) => !Time || i == 0 ? i : 1 + ((i - 1) >> 1);

    /// <summary>Writes src [B, C, h, w] into dst [B, C, r·h, r·w] (any strides) with each pixel repeated r×r times.</summary>
    internal static void CopyRepeated(IOps ops, Tensor dst, Tensor src, int r)
    {
        if (r == 1) { ops.Copy(dst, src); return; }
        int b = src.Dim(0), c = src.Dim(1), h = src.Dim(2), w = src.Dim(3);
        var s = src.Strides;
        var d = dst.Strides;
        var repeated = new Tensor(src.Storage, src.DType, [b, c, h, r, w, r], [s[0], s[1], s[2], 0, s[3], 0], src.Offset);
        var blocks = new Tensor(dst.Storage, dst.DType, [b, c, h, r, w, r], [d[0], d[1], r * d[2], d[2], r * d[3], d[3]], dst.Offset);
        ops.Copy(blocks, repeated);
    }
}
