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

    static Tensor Step(Tensor previous, Tensor next)
    {
        previous.Dispose();
        return next;
    }

    public void Dispose() => _weights.Dispose();
}
