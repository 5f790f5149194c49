using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae.CogVideoX;

/// <summary>
/// diffusers' CogVideoXCausalConv3d (pad_mode "first", the decoder's): a Conv3d of kernel kt×k×k, stride 1, zero
/// padding k/2 in height and width and none in time; in front of the frames go kt − 1 frames, the previous batch's
/// last ones (<see cref="CogVideoXConvCache"/>) or, in the first batch, copies of the first frame, so output frame t
/// reads input frames t − kt + 1 … t and the frame count is kept.
///
/// No 3-D convolution op: a kt×k×k convolution over frames is a k×k Conv2d over the frames' time windows stacked
/// as channels. The checkpoint's weight [O, C, kt, k, k] is, unchanged, a Conv2d weight [O, C·kt, k, k] whose
/// input channel c·kt + j is channel c of the window's frame j; so the input is gathered frame-major into
/// [T, B, C, kt, H, W] (one strided copy per tap, from the padded frames) and convolved as T·B images in one
/// Conv2d call, which then also runs the whole reduction (C·kt·k·k) in one GEMM. The gathered copy is kt times the
/// frames it holds, so it is made for a chunk of frames at a time (<see cref="Forward"/>).
///
/// Wan's WanCausalConv3d (<see cref="LoadZeroPadded"/>) is the same convolution with zeros in front of the first
/// batch instead of copies of its first frame, a time kernel of its own (its upsamplers' 3×1×1 time_conv) and the
/// Conv3d's weight at the module's own scope; its cache of the last kt − 1 = 2 input frames (CACHE_T) is the
/// padded sequence's last frames as here.
/// </summary>
public sealed class CogVideoXCausalConv3d
{
    CogVideoXCausalConv3d(string name, Tensor weight, Tensor? bias, int timeKernel, int kernel, bool zeroPadded = false)
    {
        Name = name;
        ZeroPadded = zeroPadded;
        Weight = weight;
        Bias = bias;
        TimeKernel = timeKernel;
        Kernel = kernel;
    }

    public string Name { get; }
    /// <summary>[O, C·kt, k, k]: the checkpoint's [O, C, kt, k, k], reshaped.</summary>
    public Tensor Weight { get; }
    public Tensor? Bias { get; }
    public int TimeKernel { get; }
    public int Kernel { get; }
    /// <summary>Zeros in front of the first batch (Wan) instead of copies of its first frame (CogVideoX).</summary>
    public bool ZeroPadded { get; }
    public int OutChannels => Weight.Dim(0);
    public int InChannels => Weight.Dim(1) / TimeKernel;

    /// <summary>Loads <c>{w}.conv.weight</c> [O, C, kt, k, k] and <c>.bias</c> [O] (the layer wraps a Conv3d named
    /// conv).</summary>
    public static CogVideoXCausalConv3d Load(WeightScope w, int inChannels, int outChannels, int kernel)
    {
        var conv = w.Pp("conv");
        var weight = conv.GetOperand("weight", outChannels, inChannels, kernel, kernel, kernel);
        return new(w.Prefix, weight.Reshape(outChannels, inChannels * kernel, kernel, kernel), conv.GetOperand("bias", outChannels), kernel, kernel);
    }

    /// <summary>Loads Wan's WanCausalConv3d <c>{w}.weight</c> [O, C, kt, k, k] and <c>.bias</c> [O] (the module is
    /// the Conv3d itself): zero padding in front of the first frame (kt − 1 frames) and k/2 around each frame.</summary>
    public static CogVideoXCausalConv3d LoadZeroPadded(WeightScope w, int inChannels, int outChannels, int timeKernel, int kernel)
    {
        var weight = w.GetOperand("weight", outChannels, inChannels, timeKernel, kernel, kernel);
        return new(w.Prefix, weight.Reshape(outChannels, inChannels * timeKernel, kernel, kernel), w.GetOperand("bias", outChannels),
            timeKernel, kernel, zeroPadded: true);
    }

    /// <summary>Elements of gathered input one Conv2d call reads at most (64 Mi: 128 MiB in bf16) unless
    /// <see cref="CogVideoXConvCache.GatherElements"/> says otherwise; a frame's window is never split.</summary>
    public const long DefaultGatherElements = 1L << 26;

    /// <summary>x [B, C, T, H, W] → [B, O, T, H, W], plus <paramref name="residual"/> ([B, O, T, H, W]) where given.
    /// With <paramref name="cache"/> the frames before this batch come from it (none there: the first frame
    /// repeated) and this batch's last kt − 1 padded frames go into it for the next. The output frames are made a
    /// chunk at a time, as many as fit <see cref="CogVideoXConvCache.GatherElements"/> gathered (kt times the input's
    /// frames), each chunk's convolution written channel-major into the output (plus the residual's frames); so
    /// the gathered copy never holds more than the budget, whatever the frame count.</summary>
    public Tensor Forward(IOps ops, Tensor x, CogVideoXConvCache? cache, Tensor? residual = null)
    {
        if (x.Rank != 5 || x.Dim(1) != InChannels)
            throw new ArgumentException($"{Name}: expects x [B, {InChannels}, T, H, W], got {Shape.Format(x.ShapeSpan)}");
        int b = x.Dim(0), c = x.Dim(1), t = x.Dim(2), h = x.Dim(3), w = x.Dim(4), kt = TimeKernel, pad = kt - 1;
        var previous = cache?.Get(this);
        if (previous is not null && (previous.Dim(0) != pad || previous.Dim(1) != b || previous.Dim(2) != c || previous.Dim(3) != h || previous.Dim(4) != w))
            throw new ArgumentException($"{Name}: cached frames {Shape.Format(previous.ShapeSpan)} do not fit x {Shape.Format(x.ShapeSpan)}");
        var frames = x.Permute(2, 0, 1, 3, 4);   // [T, B, C, H, W] view
        // zero padding reads as a cache of zero frames (the first batch of a zero-padded convolution)
        using var zeros = previous is null && ZeroPadded && pad > 0 ? ops.Zeros(x.DType, pad, b, c, h, w) : null;
        previous ??= zeros;
        int chunk = FrameChunks.Size(cache?.GatherElements ?? DefaultGatherElements, (long)b * c * kt * h * w, t);
        var output = FrameChunks.Convolve(ops, x.DType, b, OutChannels, t, h, w, chunk, residual, (t0, tc) => ConvolveFrames(ops, frames, previous, t0, tc));
        try
        {
            // after the chunks: the previous batch's frames are read until the last one is gathered
            if (cache is not null && pad > 0) cache.Set(this, LastPaddedFrames(ops, frames, previous, pad));
        }
        catch { output.Dispose(); throw; }
        return output;
    }

    /// <summary>The convolution of output frames t0 … t0 + tc − 1, frame-major [tc·B, O, H, W]: their time windows
    /// gathered into [tc, B, C, kt, H, W] (one strided copy per tap and run of frames), then one Conv2d.</summary>
    Tensor ConvolveFrames(IOps ops, Tensor frames, Tensor? previous, int t0, int tc)
    {
        int b = frames.Dim(1), c = frames.Dim(2), h = frames.Dim(3), w = frames.Dim(4), kt = TimeKernel, pad = kt - 1;
        using var stacked = ops.Empty(frames.DType, tc, b, c, kt, h, w);
        for (int j = 0; j < kt; j++)
        {
            // output frame t0 + i reads padded frame p = t0 + i + j: the padding while p < pad, else x frame p − pad
            var tap = stacked.Select(3, j);
            int fromPad = Math.Min(tc, Math.Max(0, pad - j - t0));
            for (int i = 0; i < fromPad; i++)
                ops.Copy(tap.Select(0, i), PaddingFrame(frames, previous, t0 + i + j));
            if (fromPad < tc)
                ops.Copy(tap.Slice(0, fromPad, tc - fromPad), frames.Slice(0, t0 + fromPad + j - pad, tc - fromPad));
        }
        return ops.Conv2d(stacked.Reshape(tc * b, c * kt, h, w), Weight, Bias, 1, Kernel / 2);
    }

    /// <summary>Padded frame <paramref name="p"/> (&lt; pad) as [B, C, H, W]: the cached one (zeros for a zero-padded
    /// first batch), or x's first frame.</summary>
    static Tensor PaddingFrame(Tensor frames, Tensor? previous, int p) => previous is null ? frames.Select(0, 0) : previous.Select(0, p);

    /// <summary>The last <paramref name="pad"/> frames of padding + x, frame-major [pad, B, C, H, W] (diffusers keeps
    /// inputs[:, :, −(kt − 1):] of the padded input).</summary>
    static Tensor LastPaddedFrames(IOps ops, Tensor frames, Tensor? previous, int pad)
    {
        int t = frames.Dim(0);
        var kept = ops.Empty(frames.DType, pad, frames.Dim(1), frames.Dim(2), frames.Dim(3), frames.Dim(4));
        try
        {
            for (int i = 0; i < pad; i++)
            {
                int p = t + i;   // index in the padded sequence of length t + pad
                ops.Copy(kept.Select(0, i), p < pad ? PaddingFrame(frames, previous, p) : frames.Select(0, p - pad));
            }
        }
        catch { kept.Dispose(); throw; }
        return kept;
    }
}
