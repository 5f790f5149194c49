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
    /// <summary>Elements of gathered input one convolution call reads at most
    /// (<see cref="CogVideoXCausalConv3d.DefaultGatherElements"/>): the convolutions and upsamplers gather their
    /// frames for Conv2d a chunk of frames at a time within it. Results do not depend on it.</summary>
    public long ConvGatherElements { get; set; } = CogVideoXCausalConv3d.DefaultGatherElements;
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
        var config = CogVideoXVaeConfig.Load(Path.Combine(dir, "config.json"));
        using var source = Checkpoint.Open(dir);
        return Load(config, source, ops, float32, frameBatchSize);
    }

    /// <summary>The decoder of <paramref name="config"/> with its weights from <paramref name="source"/> (a
    /// checkpoint, or random weights at the real size for a benchmark or the launch ledger).</summary>
    public static AutoencoderKLCogVideoX Load(CogVideoXVaeConfig config, ITensorSource source, IOps ops, bool float32 = false, int frameBatchSize = 2)
    {
        if (frameBatchSize < 1) throw new ArgumentOutOfRangeException(nameof(frameBatchSize), $"frame batch size must be at least 1, got {frameBatchSize}");
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
            using var cache = new CogVideoXConvCache { GatherElements = ConvGatherElements };
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

    /// <summary>One pass of diffusers' CogVideoXDecoder3D over a batch of latent frames z [B, C_lat, T, h, w]
    /// (contiguous, in the decoder's dtype: float32 when <see cref="Float32"/>): conv_in, the mid block, the up blocks,
    /// norm_out + SiLU, conv_out → [B, out_channels, T', 8h, 8w]. <see cref="Decode"/> runs it per frame batch.</summary>
    public Tensor DecodeBatch(IOps ops, Tensor z, CogVideoXConvCache? cache)
    {
        var x = ConvIn.Forward(ops, z, cache);
        x = Step(x, MidBlock.Forward(ops, x, z, cache));
        foreach (var up in UpBlocks) x = Step(x, up.Forward(ops, x, z, cache));
        Tensor a;
        using (x) a = NormOut.Forward(ops, x, z, Activation.Silu);
        using (a) return ConvOut.Forward(ops, a, cache);
    }

    /// <summary>Bytes a decode allocates at its peak besides the weights, for the pipeline's memory plan. Counted on
    /// the widest full-resolution map, M = batch · C · T · P (C = max(block_out_channels[0], [1]): the last
    /// upsampler's output, the last up block's first input; T the frames of the largest latent-frame batch, 9 for
    /// CogVideoX's 13 latent frames whatever the video's length; P the output pixels): a resnet's input (kept for
    /// its residual), its normed and activated input and its convolution's output, 3M, plus what one convolution
    /// call holds for a chunk of frames (the frames gathered, kt = 3 per frame, the call's output, its sum with
    /// the residual and one more for the convolution's own scratch: 6 maps of the chunk's frames, all T below
    /// <see cref="ConvGatherElements"/>), the causal
    /// convolutions' cached frames (two per full-resolution convolution), and the video itself; on the CPU its
    /// convolution's im2col and GEMM packing of one frame (2 · 27 values per channel and pixel). At or above the
    /// measured peak and within 2× of it on both backends (CogVideoXVaeTests, EmulatedCogVideoXVaeTests); cuDNN's
    /// workspace beyond the backend's shared one is not counted. Linear in the batch and the pixels; in the frames, through T (the
    /// largest batch) and the video's frames.</summary>
    public long EstimateDecodeBytes(int batch, int latentFrames, int height, int width, bool cpu = false)
    {
        int s = SpatialFactor, bytes = (Float32 ? DType.F32 : _weights.OperandType).SizeOf();
        double pixels = (double)height * s * width * s;
        var blocks = Config.BlockOutChannels;
        int channels = blocks.Length > 1 ? Math.Max(blocks[0], blocks[1]) : blocks[0];
        int frames = CogVideoXFrames.Batches(latentFrames, FrameBatchSize).Max(b => Config.FramesOfBatch(b.Count));
        double frameMap = (double)batch * channels * pixels;          // one frame of the widest map
        double perGathered = 3 * frameMap;                              // one frame's time window, gathered
        int chunk = (int)Math.Clamp(ConvGatherElements / Math.Max(perGathered, 1), 1, frames);
        double working = 3 * frames * frameMap + 6 * chunk * frameMap;
        double cached = 2 * (2 * (Config.LayersPerBlock + 1) + 1) * frameMap;
        double im2col = cpu ? 2 * 27 * channels * pixels : 0;
        double video = (double)batch * Config.OutChannels * OutputFrames(latentFrames) * pixels;
        double total = (working + cached + im2col + video) * bytes;
        return total >= long.MaxValue ? long.MaxValue : (long)total;
    }

    static Tensor Step(Tensor previous, Tensor next)
    {
        previous.Dispose();
        return next;
    }

    public void Dispose() => _weights.Dispose();
}
