using XDit.Kernels;
using XDit.Models.Vae.CogVideoX;
using XDit.Runtime;

namespace XDit.Models.Vae.HunyuanVideo;

/// <summary>
/// The decoder of diffusers' AutoencoderKLHunyuanVideo (HunyuanVideo's causal video VAE): <see cref="Decode"/> equals
/// <c>vae.decode(z).sample</c> with tiling and framewise decoding off (use_tiling = use_framewise_decoding = False),
/// which this class does not implement and refuses (<see cref="RefuseTiling"/>). The pipelines pass z =
/// latents / scaling_factor (<see cref="HunyuanVideoVaeConfig.ScalingFactor"/>; no latent mean or std); the result is
/// the video [B, out_channels, 4(F − 1) + 1, 8h, 8w] in about [−1, 1], not clamped (the video processor does that).
///
/// As diffusers' _decode: post_quant_conv (1×1×1) on all of z, then the decoder over all frames at once: conv_in,
/// the mid block (resnet, attention under the causal frame mask, resnet), the up blocks (resnets, then upsamplers
/// that double height and width and, in the blocks before the last, the frames after the first), conv_norm_out +
/// SiLU, conv_out. Every convolution is causal with replicated padding (<see cref="HunyuanVideoCausalConv3d"/>), and
/// every GroupNorm takes its statistics over all frames. Tensors are [B, C, T, H, W] between layers, as diffusers';
/// the encoder's tensors are not loaded.
/// </summary>
public sealed class AutoencoderKLHunyuanVideo : IDisposable
{
    readonly ModelWeights _weights;

    AutoencoderKLHunyuanVideo(HunyuanVideoVaeConfig config, ModelWeights weights)
    {
        Config = config;
        _weights = weights;
        var root = weights.Root;
        int z = config.LatentChannels, mid = config.MidChannels, g = config.NormNumGroups;
        var pq = root.Pp("post_quant_conv");
        PostQuantWeight = pq.GetOperand("weight", z, z, 1, 1, 1).Reshape(z, z, 1, 1);
        PostQuantBias = pq.GetOperand("bias", z);

        var decoder = root.Pp("decoder");
        ConvIn = HunyuanVideoCausalConv3d.Load(decoder.Pp("conv_in"), z, mid, 3);
        MidBlock = new HunyuanVideoMidBlock(decoder.Pp("mid_block"), mid, g, config.MidBlockAddAttention);
        var ups = new HunyuanVideoUpBlock[config.UpBlocks];
        for (int i = 0; i < ups.Length; i++)
            ups[i] = new HunyuanVideoUpBlock(decoder.Pp("up_blocks").Pp(i), config.UpInChannels(i), config.UpOutChannels(i),
                config.LayersPerBlock + 1, g, config.UpsamplesSpace(i), config.UpsamplesTime(i));
        UpBlocks = ups;
        int last = config.BlockOutChannels[0];
        NormOut = VaeGroupNorm.Load(decoder.Pp("conv_norm_out"), last, g, HunyuanVideoVaeConfig.NormEps);
        ConvOut = HunyuanVideoCausalConv3d.Load(decoder.Pp("conv_out"), last, config.OutChannels, 3);
    }

    public HunyuanVideoVaeConfig Config { get; }
    /// <summary>post_quant_conv as a 1×1 Conv2d weight [Z, Z, 1, 1].</summary>
    public Tensor PostQuantWeight { get; }
    public Tensor PostQuantBias { get; }
    public HunyuanVideoCausalConv3d ConvIn { get; }
    public HunyuanVideoMidBlock MidBlock { get; }
    public IReadOnlyList<HunyuanVideoUpBlock> UpBlocks { get; }
    public VaeGroupNorm NormOut { get; }
    public HunyuanVideoCausalConv3d ConvOut { get; }

    /// <summary>Elements of gathered input one convolution call reads at most
    /// (<see cref="CogVideoXCausalConv3d.DefaultGatherElements"/>): the convolutions gather their frames' windows for
    /// Conv2d a chunk of frames at a time within it. Results do not depend on it.</summary>
    public long ConvGatherElements { get; set; } = CogVideoXCausalConv3d.DefaultGatherElements;
    /// <summary>Pixels per latent pixel along each axis (8).</summary>
    public int SpatialFactor => Config.SpatialFactor;
    /// <summary>Whether the decoder computes in float32 whatever the activations' dtype (the weights are kept in
    /// float32 and z is cast to it, so the video comes back float32); see <see cref="AutoencoderKL.Float32"/>.</summary>
    public bool Float32 { get; private init; }
    /// <summary>Bytes of the decoder's weights.</summary>
    public long WeightBytes => _weights.Bytes;

    /// <summary>Loads config.json and the decoder's weights of a diffusers AutoencoderKLHunyuanVideo folder.</summary>
    /// <param name="float32">keep the weights in float32 and decode in float32 (<see cref="Float32"/>); false: the
    /// backend's activation dtype</param>
    public static AutoencoderKLHunyuanVideo Load(string dir, IOps ops, bool float32 = false)
    {
        var config = HunyuanVideoVaeConfig.Load(Path.Combine(dir, "config.json"));
        using var source = Checkpoint.Open(dir);
        return Load(config, source, ops, float32);
    }

    /// <summary>The decoder of <paramref name="config"/> with its weights from <paramref name="source"/> (a
    /// checkpoint, or random weights at the real size for a benchmark).</summary>
    public static AutoencoderKLHunyuanVideo Load(HunyuanVideoVaeConfig config, ITensorSource source, IOps ops, bool float32 = false)
    {
        var weights = new ModelWeights(source, ops, float32 ? DType.F32 : null);
        try { return weights.Checked(new AutoencoderKLHunyuanVideo(config, weights) { Float32 = float32 }, "encoder", "quant_conv"); }
        catch { weights.Dispose(); throw; }
    }

    /// <summary>Refuses diffusers' tiled (use_tiling) and framewise (use_framewise_decoding) decoding, which split the
    /// video into overlapping tiles or frame windows decoded apart and blended: not implemented, and their videos
    /// differ from a whole decode. <paramref name="where"/> names what asked (a file and key, a flag).</summary>
    public static void RefuseTiling(bool useTiling, bool useFramewiseDecoding, string where)
    {
        if (useTiling)
            throw new NotSupportedException($"{where}: use_tiling true is not supported (AutoencoderKLHunyuanVideo decodes the whole latent at once; tiled decoding is not implemented)");
        if (useFramewiseDecoding)
            throw new NotSupportedException($"{where}: use_framewise_decoding true is not supported (AutoencoderKLHunyuanVideo decodes all latent frames at once; framewise decoding is not implemented)");
    }

    /// <summary>Video frames made from <paramref name="latentFrames"/> latent frames: 4(F − 1) + 1.</summary>
    public int OutputFrames(int latentFrames) => Config.OutputFrames(latentFrames);

    /// <summary>Decodes z [B, latent_channels, F, h, w] (channel-major, already divided by scaling_factor; a strided
    /// view is read as it is) to the video [B, out_channels, <see cref="OutputFrames"/>(F), 8h, 8w], in float32 when
    /// <see cref="Float32"/>, else in z's dtype.</summary>
    public Tensor Decode(IOps ops, Tensor z)
    {
        if (z.Rank != 5 || z.Dim(1) != Config.LatentChannels || z.Dim(0) < 1 || z.Dim(2) < 1 || z.Dim(3) < 1 || z.Dim(4) < 1)
            throw new ArgumentException($"{Config.Path}: decode expects z [B, {Config.LatentChannels}, F, h, w] with every size at least 1, got {Shape.Format(z.ShapeSpan)}");
        var dtype = Float32 ? DType.F32 : z.DType;
        long gather = ConvGatherElements;
        var x = PostQuant(ops, z, dtype);
        x = Step(x, ConvIn.Forward(ops, x, null, gather));
        x = Step(x, MidBlock.Forward(ops, x, gather));
        foreach (var up in UpBlocks) x = Step(x, up.Forward(ops, x, gather));
        Tensor a;
        using (x) a = HunyuanVideoResnetBlock.Norm(ops, x, NormOut);
        using (a) return ConvOut.Forward(ops, a, null, gather);
    }

    /// <summary>post_quant_conv (a plain 1×1×1 Conv3d) of z in <paramref name="dtype"/>: a 1×1 Conv2d over
    /// [B, Z, F·h, w].</summary>
    Tensor PostQuant(IOps ops, Tensor z, DType dtype)
    {
        int b = z.Dim(0), c = z.Dim(1), f = z.Dim(2), h = z.Dim(3), w = z.Dim(4);
        using var dense = z.DType != dtype ? ops.Cast(z, dtype) : ops.Contiguous(z);
        return ops.Conv2d(dense.Reshape(b, c, f * h, w), PostQuantWeight, PostQuantBias).TakeReshaped(b, c, f, h, w);
    }

    /// <summary>Bytes a decode of z [batch, latent_channels, latentFrames, height, width] allocates at its peak besides
    /// the weights, for a pipeline's memory plan. The decode is walked stage by stage as <see cref="Decode"/> holds
    /// its tensors: a block's input while the block runs, a resnet's input, its normed and activated input and its
    /// convolution's output (plus the shortcut's), and within each convolution what one call holds for a chunk of
    /// frames (the padded windows gathered, k = 3 per frame, the Conv2d's output and its sum with the residual: all
    /// frames below <see cref="ConvGatherElements"/>); the mid block's attention as seven maps of its tokens; on the CPU
    /// a convolution's im2col and GEMM packing of one frame (2 · 27 values per channel and pixel). The largest stage
    /// is at full resolution: the last up block's first resnet reads the last upsampler's output, so with the usual
    /// blocks (256 then 128 channels there) that is about 5 maps of 128 channels over all frames and pixels (23 GB in
    /// bf16 for 33 frames of 544×960, 152 GB for 129 frames of 720×1280). At or above the measured peak and within 2×
    /// of it on the CPU (HunyuanVideoVaeTests) and the emulated device (EmulatedHunyuanVideoVaeTests, within 1.5× at
    /// 33 frames of 544×960); cuDNN's workspace beyond the backend's shared one is not counted. Linear in the batch, the frames and the pixels: all frames are decoded
    /// at once (framewise decoding, which diffusers turns on above 4 latent frames, is not implemented).</summary>
    public long EstimateDecodeBytes(int batch, int latentFrames, int height, int width, bool cpu = false)
    {
        int bytes = (Float32 ? DType.F32 : _weights.OperandType).SizeOf();
        double b = batch, peak = 0;
        int h = height, w = width, t = latentFrames, z = Config.LatentChannels;
        double Map(int c, int frames, int hh, int ww) => b * c * frames * hh * ww;
        // one convolution call over frames × hh × ww, with `held` bytes alive beside it
        void Conv(double held, int cin, int cout, int frames, int hh, int ww, bool residual)
        {
            double window = b * cin * 3.0 * (hh + 2) * (ww + 2);
            int chunk = (int)Math.Clamp(ConvGatherElements / Math.Max(window, 1), 1, frames);
            double pass = chunk * window + chunk * b * cout * hh * ww * (residual ? 2 : 1);
            double im2col = cpu ? 2 * 27.0 * cin * hh * ww : 0;
            peak = Math.Max(peak, held + Map(cout, frames, hh, ww) + pass + im2col);
        }
        // a resnet from cin to cout channels, with `held` alive beside its input
        void Resnet(double held, int cin, int cout)
        {
            double x = Map(cin, t, h, w), m = Map(cout, t, h, w), shortcut = cin != cout ? m : 0;
            Conv(held + 2 * x, cin, cout, t, h, w, residual: false);            // x and its normed input
            peak = Math.Max(peak, held + x + 2 * m);                            // conv1's output and its normed copy
            Conv(held + x + m + shortcut, cout, cout, t, h, w, residual: true); // x, the normed input, the shortcut
        }

        double zBytes = Map(z, t, h, w);
        peak = 3 * zBytes;                                                      // z cast, post_quant_conv
        int mid = Config.MidChannels;
        Conv(zBytes, z, mid, t, h, w, residual: false);                         // conv_in
        double midMap = Map(mid, t, h, w);
        Resnet(0, mid, mid);                                                    // its input is the block's
        if (MidBlock.Attention is not null) peak = Math.Max(peak, 2 * midMap + 5 * midMap);
        Resnet(midMap, mid, mid);
        for (int i = 0; i < UpBlocks.Count; i++)
        {
            int cin = Config.UpInChannels(i), cout = Config.UpOutChannels(i);
            double input = Map(cin, t, h, w);
            for (int r = 0; r < UpBlocks[i].Resnets.Count; r++)
                Resnet(r == 0 ? 0 : input, r == 0 ? cin : cout, cout);          // the first one's input is the block's
            if (UpBlocks[i].Upsampler is { } up)
            {
                double before = input + Map(cout, t, h, w);
                int r = up.Space ? 2 : 1;
                t = up.FramesOut(t);
                h *= r;
                w *= r;
                Conv(before, cout, cout, t, h, w, residual: false);
            }
        }
        int last = Config.BlockOutChannels[0];
        double final = Map(last, t, h, w);
        peak = Math.Max(peak, 2 * final);                                       // conv_norm_out's input and output
        Conv(final, last, Config.OutChannels, t, h, w, residual: false);
        // plus 0.2% for the CUDA arena's size classes (blocks of 1 MiB and more are rounded up to whole MiB, and a
        // handful are alive at the peak), which the walk above, exact in elements, leaves out
        double total = peak * bytes * 1.002;
        return total >= long.MaxValue ? long.MaxValue : (long)total;
    }

    static Tensor Step(Tensor previous, Tensor next)
    {
        previous.Dispose();
        return next;
    }

    public void Dispose() => _weights.Dispose();
}
