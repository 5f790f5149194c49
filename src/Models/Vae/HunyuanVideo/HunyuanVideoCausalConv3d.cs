using XDit.Kernels;
using XDit.Models.Vae.CogVideoX;
using XDit.Runtime;

namespace XDit.Models.Vae.HunyuanVideo;

/// <summary>
/// diffusers' HunyuanVideoCausalConv3d: a Conv3d of kernel k×k×k, stride 1, on the input padded by replication
/// (F.pad mode "replicate"): k/2 pixels on each side of height and width, and k − 1 copies of the first frame in
/// front of the frames (none after), so output frame t reads input frames t − k + 1 … t and the frame count and size
/// are kept. A 1×1×1 kernel (a resnet's conv_shortcut) pads nothing.
///
/// As <see cref="CogVideoXCausalConv3d"/>, with no 3-D convolution op the k×k×k convolution is a k×k Conv2d over the
/// frames' time windows stacked as channels (the checkpoint's weight [O, C, k, k, k] is, unchanged, a Conv2d weight
/// [O, C·k, k, k]); the windows are gathered frame-major into [T, B, C, k, H + 2p, W + 2p] a chunk of frames at a
/// time. Unlike CogVideoX's zero-padded frames, the replicated border is part of the gather (the interior copied from
/// the frames, then the border columns and rows copied from the interior's edges), so the Conv2d pads nothing.
/// </summary>
public sealed class HunyuanVideoCausalConv3d
{
    HunyuanVideoCausalConv3d(string name, Tensor weight, Tensor bias, int kernel)
    {
        Name = name;
        Weight = weight;
        Bias = bias;
        Kernel = kernel;
    }

    public string Name { get; }
    /// <summary>[O, C·k, k, k]: the checkpoint's [O, C, k, k, k], reshaped.</summary>
    public Tensor Weight { get; }
    public Tensor Bias { get; }
    public int Kernel { get; }
    public int OutChannels => Weight.Dim(0);
    public int InChannels => Weight.Dim(1) / Kernel;

    /// <summary>Loads <c>{w}.conv.weight</c> [O, C, k, k, k] and <c>.bias</c> [O] (the layer wraps a Conv3d named
    /// conv).</summary>
    public static HunyuanVideoCausalConv3d Load(WeightScope w, int inChannels, int outChannels, int kernel)
    {
        if (kernel < 1 || kernel % 2 == 0) throw new ArgumentOutOfRangeException(nameof(kernel), $"{w.Prefix}: kernel must be odd and positive, got {kernel}");
        var conv = w.Pp("conv");
        var weight = conv.GetOperand("weight", outChannels, inChannels, kernel, kernel, kernel);
        return new(w.Prefix, weight.Reshape(outChannels, inChannels * kernel, kernel, kernel), conv.GetOperand("bias", outChannels), kernel);
    }

    /// <summary>x [B, C, T, H, W] (any strides) → [B, O, T, H, W], plus <paramref name="residual"/> ([B, O, T, H, W])
    /// where given.</summary>
    public Tensor Forward(IOps ops, Tensor x, Tensor? residual = null, long gatherElements = CogVideoXCausalConv3d.DefaultGatherElements)
    {
        if (x.Rank != 5 || x.Dim(1) != InChannels)
            throw new ArgumentException($"{Name}: expects x [B, {InChannels}, T, H, W], got {Shape.Format(x.ShapeSpan)}");
        int b = x.Dim(0), c = x.Dim(1), t = x.Dim(2), h = x.Dim(3), w = x.Dim(4);
        if (Kernel == 1) return Pointwise(ops, x, residual);
        return Forward(ops, b, t, h, w, (dst, first, n) => ops.Copy(dst, x.Slice(2, first, n).Permute(2, 0, 1, 3, 4)), residual, gatherElements);
    }

    /// <summary>
    /// The convolution of <paramref name="frames"/> frames of [B, C, <paramref name="height"/>, <paramref name="width"/>]
    /// that <paramref name="copyFrames"/> writes on demand: copyFrames(dst, first, n) fills dst, a view
    /// [n, B, C, height, width], with frames first … first + n − 1. So an upsampler hands its frames over as they are
    /// made, straight into the gather, without making the upsampled map whole. Output [B, O, frames, height, width],
    /// plus <paramref name="residual"/> where given; the frames are convolved as many per Conv2d call as fit
    /// <paramref name="gatherElements"/> gathered (k per frame), a frame's window never split.
    /// </summary>
    public Tensor Forward(IOps ops, int b, int frames, int height, int width, Action<Tensor, int, int> copyFrames,
        Tensor? residual = null, long gatherElements = CogVideoXCausalConv3d.DefaultGatherElements)
    {
        if (Kernel == 1) throw new InvalidOperationException($"{Name}: a 1×1×1 convolution takes its input whole (Forward(ops, x))");
        if (residual is not null && !residual.ShapeSpan.SequenceEqual([b, OutChannels, frames, height, width]))
            throw new ArgumentException($"{Name}: residual must be [{b}, {OutChannels}, {frames}, {height}, {width}], got {Shape.Format(residual.ShapeSpan)}");
        int c = InChannels, k = Kernel, p = k / 2;
        int chunk = FrameChunks.Size(gatherElements, (long)b * c * k * (height + 2 * p) * (width + 2 * p), frames);
        return FrameChunks.Convolve(ops, Weight.DType, b, OutChannels, frames, height, width, chunk, residual,
            (t0, tc) => ConvolveFrames(ops, b, height, width, copyFrames, t0, tc));
    }

    /// <summary>Output frames t0 … t0 + tc − 1, frame-major [tc·B, O, H, W]: their padded time windows gathered into
    /// [tc, B, C, k, H + 2p, W + 2p], then one Conv2d without padding.</summary>
    Tensor ConvolveFrames(IOps ops, int b, int h, int w, Action<Tensor, int, int> copyFrames, int t0, int tc)
    {
        int c = InChannels, k = Kernel, p = k / 2, pad = k - 1;
        using var stacked = ops.Empty(Weight.DType, tc, b, c, k, h + 2 * p, w + 2 * p);
        var interior = stacked.Slice(4, p, h).Slice(5, p, w);   // [tc, B, C, k, H, W]
        for (int j = 0; j < k; j++)
        {
            // output frame t0 + i reads padded frame t0 + i + j: a copy of frame 0 while that is < pad, else frame
            // t0 + i + j − pad
            var tap = interior.Select(3, j);
            int fromPad = Math.Min(tc, Math.Max(0, pad - j - t0));
            for (int i = 0; i < fromPad; i++) copyFrames(tap.Slice(0, i, 1), 0, 1);
            if (fromPad < tc) copyFrames(tap.Slice(0, fromPad, tc - fromPad), t0 + fromPad + j - pad, tc - fromPad);
        }
        // the replicated border: columns from the interior's edge columns, then whole rows (corners included)
        for (int q = 0; q < p; q++)
        {
            ops.Copy(stacked.Slice(5, q, 1), stacked.Slice(5, p, 1));
            ops.Copy(stacked.Slice(5, p + w + q, 1), stacked.Slice(5, p + w - 1, 1));
        }
        for (int q = 0; q < p; q++)
        {
            ops.Copy(stacked.Slice(4, q, 1), stacked.Slice(4, p, 1));
            ops.Copy(stacked.Slice(4, p + h + q, 1), stacked.Slice(4, p + h - 1, 1));
        }
        return ops.Conv2d(stacked.Reshape(tc * b, c * k, h + 2 * p, w + 2 * p), Weight, Bias, 1, 0);
    }

    /// <summary>The 1×1×1 convolution: a 1×1 Conv2d over [B, C, T·H, W].</summary>
    Tensor Pointwise(IOps ops, Tensor x, Tensor? residual)
    {
        int b = x.Dim(0), c = x.Dim(1), t = x.Dim(2), h = x.Dim(3), w = x.Dim(4), o = OutChannels;
        using var dense = x.IsContiguous ? null : ops.Contiguous(x);
        var input = (dense ?? x).Reshape(b, c, t * h, w);
        if (residual is null) return ops.Conv2d(input, Weight, Bias).TakeReshaped(b, o, t, h, w);
        using var denseResidual = residual.IsContiguous ? null : ops.Contiguous(residual);
        return ops.Conv2d(input, Weight, Bias, 1, 0, (denseResidual ?? residual).Reshape(b, o, t * h, w)).TakeReshaped(b, o, t, h, w);
    }
}
