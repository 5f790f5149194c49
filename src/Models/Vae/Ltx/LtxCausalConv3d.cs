using XDit.Kernels;
using XDit.Models.Vae.CogVideoX;
using XDit.Runtime;

namespace XDit.Models.Vae.Ltx;

/// <summary>
/// diffusers' LTXVideoCausalConv3d at stride 1: a Conv3d of kernel kt×k×k with zero padding k/2 in height and
/// width and none in time; the frames are padded by repeating the edge ones, kt − 1 copies of the first frame in
/// front when causal, else (kt − 1)/2 copies of the first in front and as many of the last behind. So output frame
/// o reads input frames clamp(o + j − front, 0, T − 1) for taps j = 0 … kt − 1, and an odd kernel keeps the count.
///
/// As CogVideoXCausalConv3d does it, without a 3-D convolution op: the checkpoint's weight [O, C, kt, k, k] is a
/// Conv2d weight [O, C·kt, k, k] over each output frame's time window stacked as channels (input channel c·kt + j
/// is channel c of tap j), so the windows are gathered frame-major into [tc, B, C, kt, H, W] (one strided copy per
/// tap and run of frames, the clamped edge frames one by one) and convolved as tc·B images in one Conv2d. x may be
/// any strided view (a channels-last norm output read as [B, C, T, H, W]); the gathered copy is kt times its frames,
/// so it is made a chunk of frames at a time within a budget of elements.
/// </summary>
public sealed class LtxCausalConv3d
{
    LtxCausalConv3d(string name, Tensor weight, Tensor bias, int kernel, bool causal)
    {
        Name = name;
        Weight = weight;
        Bias = bias;
        Kernel = kernel;
        Causal = causal;
    }

    public string Name { get; }
    /// <summary>[O, C·kt, k, k]: the checkpoint's [O, C, kt, k, k], reshaped.</summary>
    public Tensor Weight { get; }
    public Tensor Bias { get; }
    /// <summary>kt = k (diffusers' decoder builds cubic kernels: 3, or 1 for a shortcut).</summary>
    public int Kernel { get; }
    public bool Causal { get; }
    public int OutChannels => Weight.Dim(0);
    public int InChannels => Weight.Dim(1) / Kernel;
    /// <summary>Repeated first frames in front of the input.</summary>
    public int Front => Causal ? Kernel - 1 : (Kernel - 1) / 2;
    /// <summary>Repeated last frames behind the input.</summary>
    public int Back => Causal ? 0 : (Kernel - 1) / 2;

    /// <summary>Loads <c>{w}.conv.weight</c> [O, C, k, k, k] and <c>.bias</c> [O] (the layer wraps a Conv3d named
    /// conv).</summary>
    public static LtxCausalConv3d Load(WeightScope w, int inChannels, int outChannels, int kernel, bool causal)
    {
        var conv = w.Pp("conv");
        var weight = conv.GetOperand("weight", outChannels, inChannels, kernel, kernel, kernel);
        return new(w.Prefix, weight.Reshape(outChannels, inChannels * kernel, kernel, kernel), conv.GetOperand("bias", outChannels), kernel, causal);
    }

    /// <summary>Output frames for <paramref name="frames"/> input frames.</summary>
    public int FramesOut(int frames) => frames + Front + Back - Kernel + 1;

    /// <summary>x [B, C, T, H, W] (any strides) → [B, O, T', H, W] contiguous (T' = <see cref="FramesOut"/>), plus
    /// <paramref name="residual"/> ([B, O, T', H, W], any strides) where given. The output frames are made a chunk
    /// at a time, as many as fit <paramref name="gatherElements"/> gathered, each written channel-major into the
    /// output with the residual's frames added.</summary>
    public Tensor Forward(IOps ops, Tensor x, Tensor? residual = null, long gatherElements = CogVideoXCausalConv3d.DefaultGatherElements)
    {
        if (x.Rank != 5 || x.Dim(1) != InChannels || x.Dim(2) < 1)
            throw new ArgumentException($"{Name}: expects x [B, {InChannels}, T ≥ 1, H, W], got {Shape.Format(x.ShapeSpan)}");
        int b = x.Dim(0), c = x.Dim(1), t = x.Dim(2), h = x.Dim(3), w = x.Dim(4), kt = Kernel, tOut = FramesOut(t);
        if (tOut < 1)
            throw new ArgumentException($"{Name}: {t} frames are too few for a time kernel of {kt}");
        if (residual is not null && (residual.Rank != 5 || residual.Dim(0) != b || residual.Dim(1) != OutChannels || residual.Dim(2) != tOut || residual.Dim(3) != h || residual.Dim(4) != w))
            throw new ArgumentException($"{Name}: residual {Shape.Format(residual.ShapeSpan)} is not the output's [{b}, {OutChannels}, {tOut}, {h}, {w}]");
        var frames = x.Permute(2, 0, 1, 3, 4);   // [T, B, C, H, W] view
        int chunk = FrameChunks.Size(gatherElements, (long)b * c * kt * h * w, tOut);
        return FrameChunks.Convolve(ops, x.DType, b, OutChannels, tOut, h, w, chunk, residual, (t0, tc) => ConvolveFrames(ops, frames, t0, tc));
    }

    /// <summary>The convolution of output frames t0 … t0 + tc − 1, frame-major [tc·B, O, H, W]: their windows
    /// gathered into [tc, B, C, kt, H, W], then one Conv2d.</summary>
    Tensor ConvolveFrames(IOps ops, Tensor frames, int t0, int tc)
    {
        int t = frames.Dim(0), b = frames.Dim(1), c = frames.Dim(2), h = frames.Dim(3), w = frames.Dim(4), kt = Kernel;
        using var stacked = ops.Empty(frames.DType, tc, b, c, kt, h, w);
        for (int j = 0; j < kt; j++)
        {
            // output frame o reads input frame o + j − front, clamped to the edges (the replicated padding)
            var tap = stacked.Select(3, j);
            int shift = j - Front;
            int lo = Math.Clamp(-shift - t0, 0, tc);              // chunk entries before: frame 0
            int hi = Math.Clamp(t - 1 - shift - t0 + 1, lo, tc);  // chunk entries [lo, hi) read frames in range
            for (int i = 0; i < lo; i++) ops.Copy(tap.Select(0, i), frames.Select(0, 0));
            if (hi > lo) ops.Copy(tap.Slice(0, lo, hi - lo), frames.Slice(0, t0 + lo + shift, hi - lo));
            for (int i = hi; i < tc; i++) ops.Copy(tap.Select(0, i), frames.Select(0, t - 1));
        }
        return ops.Conv2d(stacked.Reshape(tc * b, c * kt, h, w), Weight, Bias, 1, Kernel / 2);
    }
}
