using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae.CogVideoX;

/// <summary>
/// The decoder of diffusers' AutoencoderKLCogVideoX (CogVideoX's causal video VAE): <see cref="Decode"/> equals
/// <c>vae.decode(z).sample</c> with tiling off. The pipeline turns its latents [B, F, C, h, w] into z
/// [B, C, F, h, w] divided by scaling_factor (<see cref="CogVideoXVaeConfig.ScalingFactor"/>) before calling it, as
/// CogVideoXPipeline.decode_latents does; the result is the video [B, out_channels, frames, 8h, 8w] in about
/// [−1, 1] (the pipeline's video processor maps it to [0, 1]).
///
/// As diffusers' _decode, the latent frames are decoded in batches of <see cref="FrameBatchSize"/> (2; the remainder
/// joins the first batch), each batch through the whole decoder, the causal convolutions carrying their last input
/// frames from one batch to the next (<see cref="CogVideoXConvCache"/>) and every GroupNorm taking its statistics
/// over the current batch's frames only; the batches' frames are written one after another into the output. Tensors
/// are [B, C, T, H, W] (channel-major, as diffusers) between layers; the convolutions gather them frame-major for
/// one Conv2d over all frames (<see cref="CogVideoXCausalConv3d"/>). The encoder's tensors are not loaded.
/// </summary>
public sealed class AutoencoderKLCogVideoX : IDisposable
{
    readonly ModelWeights _weights;

    AutoencoderKLCogVideoX(CogVideoXVaeConfig config, ModelWeights weights)
    {
        Config = config;
        _weights = weights;
        var decoder = weights.Root.Pp("decoder");
        int lat = config.LatentChannels, g = config.NormNumGroups, mid = config.MidChannels;
        ConvIn = CogVideoXCausalConv3d.Load(decoder.Pp("conv_in"), lat, mid, 3);
        // the mid block: two resnets, no upsampler
        MidBlock = new CogVideoXUpBlock3D(decoder.Pp("mid_block"), mid, mid, 2, lat, g, upsample: false, compressTime: false);

        var reversed = config.BlockOutChannels.Reverse().ToArray();
        var ups = new CogVideoXUpBlock3D[reversed.Length];
        int prev = reversed[0];
        for (int i = 0; i < reversed.Length; i++)
        {
            ups[i] = new CogVideoXUpBlock3D(decoder.Pp("up_blocks").Pp(i), prev, reversed[i], config.LayersPerBlock + 1, lat, g,
                upsample: i < reversed.Length - 1, compressTime: i < config.TimeUpsamplingBlocks);
            prev = reversed[i];
        }
        UpBlocks = ups;
        NormOut = new CogVideoXSpatialNorm3D(decoder.Pp("norm_out"), reversed[^1], lat, g);
        ConvOut = CogVideoXCausalConv3d.Load(decoder.Pp("conv_out"), reversed[^1], config.OutChannels, 3);
    }

    public CogVideoXVaeConfig Config { get; }
    public CogVideoXCausalConv3d ConvIn { get; }
    public CogVideoXUpBlock3D MidBlock { get; }
    public IReadOnlyList<CogVideoXUpBlock3D> UpBlocks { get; }
    public CogVideoXSpatialNorm3D NormOut { get; }
    public CogVideoXCausalConv3d ConvOut { get; }

    /// <summary>Latent frames decoded together (diffusers' num_latent_frames_batch_size, 2: the VAE was trained on
    /// such batches, so other values give other videos).</summary>
    public int FrameBatchSize { get; init; } = 2;
    /// <summary>Pixels per latent pixel along each axis (8).</summary>
    public int SpatialFactor => Config.SpatialFactor;
    /// <summary>Whether the decoder computes in float32 whatever the activations' dtype (the weights are kept in
    /// float32 and z is cast to it, so the video comes back float32), as diffusers' force_upcast VAE in a float16
    /// pipeline; see <see cref="AutoencoderKL.Float32"/>.</summary>
    public bool Float32 { get; private init; }
    /// <summary>Bytes of the decoder's weights.</summary>
    public long WeightBytes => _weights.Bytes;

    /// <summary>Loads config.json and the decoder's weights of a diffusers AutoencoderKLCogVideoX folder.</summary>
    /// <param name="float32">keep the weights in float32 and decode in float32 (<see cref="Float32"/>, for a
    /// force_upcast VAE in a reduced-precision pipeline); false: the backend's activation dtype</param>
    /// <param name="frameBatchSize">latent frames per decoder pass (<see cref="FrameBatchSize"/>)</param>
    public static AutoencoderKLCogVideoX Load(string dir, IOps ops, bool float32 = false, int frameBatchSize = 2)
    {
        if (frameBatchSize < 1) throw new ArgumentOutOfRangeException(nameof(frameBatchSize), $"frame batch size must be at least 1, got {frameBatchSize}");
        var config = CogVideoXVaeConfig.Load(Path.Combine(dir, "config.json"));
        using var source = Checkpoint.Open(dir);
        var weights = new ModelWeights(source, ops, float32 ? DType.F32 : null);
        try { return weights.Checked(new AutoencoderKLCogVideoX(config, weights) { Float32 = float32, FrameBatchSize = frameBatchSize }, "encoder", "quant_conv"); }
        catch { weights.Dispose(); throw; }
    }

    /// <summary>Video frames made from <paramref name="latentFrames"/> latent frames: the sum over the frame batches
    /// (with a ratio of 4: 4(F − 1) + 1 when the first batch is odd, as for CogVideoX's 13 → 49, else 4F).</summary>
    public int OutputFrames(int latentFrames) => CogVideoXFrames.Batches(latentFrames, FrameBatchSize).Sum(b => Config.FramesOfBatch(b.Count));

    /// <summary>Decodes z [B, latent_channels, F, h, w] (channel-major, already divided by scaling_factor; a strided
    /// view such as latents.Permute(0, 2, 1, 3, 4) of the pipeline's [B, F, C, h, w] is read in place) to the video
    /// [B, out_channels, <see cref="OutputFrames"/>(F), 8h, 8w], in float32 when <see cref="Float32"/>, else in z's
    /// dtype.</summary>
    public Tensor Decode(IOps ops, Tensor z)
    {
        if (z.Rank != 5 || z.Dim(1) != Config.LatentChannels)
            throw new ArgumentException($"{Config.Path}: decode expects z [B, {Config.LatentChannels}, F, h, w], got {Shape.Format(z.ShapeSpan)}");
        int b = z.Dim(0), f = z.Dim(2), h = z.Dim(3), w = z.Dim(4), s = SpatialFactor;
        var dtype = Float32 ? DType.F32 : z.DType;
        var batches = CogVideoXFrames.Batches(f, FrameBatchSize);
        var video = ops.Empty(dtype, b, Config.OutChannels, OutputFrames(f), h * s, w * s);
        try
        {
            using var cache = new CogVideoXConvCache();
            int at = 0;
            foreach (var (start, count) in batches)
            {
                using var frames = BatchLatents(ops, z, start, count, dtype);
                using var decoded = DecodeBatch(ops, frames, cache);
                ops.Copy(video.Slice(2, at, decoded.Dim(2)), decoded);
                at += decoded.Dim(2);
            }
        }
        catch { video.Dispose(); throw; }
        return video;
    }

    /// <summary>Latent frames start … start + count − 1 as a contiguous tensor of <paramref name="dtype"/>.</summary>
    static Tensor BatchLatents(IOps ops, Tensor z, int start, int count, DType dtype)
    {
        var slice = z.Slice(2, start, count);
        if (slice.DType != dtype) return ops.Cast(slice, dtype);
        return ops.Contiguous(slice);
    }

    /// <summary>One pass of diffusers' CogVideoXDecoder3D over a batch of latent frames z [B, C_lat, T, h, w]:
    /// conv_in, the mid block, the up blocks, norm_out + SiLU, conv_out → [B, out_channels, T', 8h, 8w].</summary>
    public Tensor DecodeBatch(IOps ops, Tensor z, CogVideoXConvCache? cache)
    {
        var x = ConvIn.Forward(ops, z, cache);
        x = Step(x, MidBlock.Forward(ops, x, z, cache));
        foreach (var up in UpBlocks) x = Step(x, up.Forward(ops, x, z, cache));
        Tensor a;
        using (x) a = NormOut.Forward(ops, x, z, Activation.Silu);
        using (a) return ConvOut.Forward(ops, a, cache);
    }

    /// <summary>Device bytes a decode holds at its peak besides the weights, for the pipeline's memory plan:
    /// the output video plus the largest batch's working set. That is measured on the widest full-resolution stage
    /// (the last upsampler's output, max(block_out_channels[0], block_out_channels[1]) channels): about six maps
    /// of that width over the batch's frames (the block's input kept for its shortcut, the normed and activated
    /// maps, a convolution's gathered frames, its output and the channel-major copy), plus the convolutions' cached
    /// frames. It grows linearly with the frames of the largest batch (9 for CogVideoX's 13 latent frames, whatever
    /// the video's length) and with the pixels, and the output linearly with the video's frames.</summary>
    public long EstimateDecodeBytes(int batch, int latentFrames, int height, int width)
    {
        int s = SpatialFactor, bytes = (Float32 ? DType.F32 : _weights.OperandType).SizeOf();
        long pixels = (long)height * s * width * s;
        var batches = CogVideoXFrames.Batches(latentFrames, FrameBatchSize);
        int widestBatch = batches.Max(b => Config.FramesOfBatch(b.Count));
        var blocks = Config.BlockOutChannels;
        int fullResolution = blocks.Length > 1 ? Math.Max(blocks[0], blocks[1]) : blocks[0];
        long working = 6L * fullResolution * widestBatch * pixels;
        long output = (long)Config.OutChannels * OutputFrames(latentFrames) * pixels;
        // every causal conv keeps two frames of its input; the full-resolution ones dominate
        long cached = 2L * 2 * (Config.LayersPerBlock + 1) * fullResolution * pixels;
        return (long)batch * bytes * (working + output + cached);
    }

    static Tensor Step(Tensor previous, Tensor next)
    {
        previous.Dispose();
        return next;
    }

    public void Dispose() => _weights.Dispose();
}
