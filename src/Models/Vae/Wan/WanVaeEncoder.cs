using XDit.Kernels;
using XDit.Models.Vae.CogVideoX;
using XDit.Runtime;

namespace XDit.Models.Vae.Wan;

/// <summary>
/// The encoder of diffusers' AutoencoderKLWan (Wan 2.1; what the image-to-video pipeline encodes its conditioning
/// video with): <see cref="Encode"/> equals <c>vae.encode(x).latent_dist</c> (mean and log-variance clamped to
/// [−30, 20]) with tiling off. As diffusers' _encode, the video goes through the encoder in chunks, its first frame
/// alone and then 4 frames at a time (frames past the last whole chunk are left out, as there), each chunk to one
/// latent frame: conv_in, the down blocks (num_res_blocks residual blocks per level, then a downsample2d, or a
/// downsample3d in the levels temperal_downsample names, except after the last level), the mid block, norm_out +
/// SiLU, conv_out to 2·z_dim channels; then quant_conv on all latent frames. The causal convolutions carry their last
/// two input frames from chunk to chunk (<see cref="CogVideoXConvCache"/>), the downsample3d layers their last frame
/// (<see cref="WanDownsampleCache"/>). The decoder's tensors are not loaded. Qwen-Image's AutoencoderKLQwenImage
/// encodes here too (its images as one-frame videos [B, 3, 1, H, W]; see <see cref="WanVaeConfig"/>).
/// </summary>
public sealed class WanVaeEncoder : IDisposable
{
    readonly ModelWeights _weights;

    WanVaeEncoder(WanVaeConfig config, ModelWeights weights)
    {
        if (config.AttnScales.Length > 0)
            throw new NotSupportedException($"{config.Path}: attn_scales [{string.Join(", ", config.AttnScales)}] (attention in the encoder's down blocks) is not supported, expected []");
        Config = config;
        _weights = weights;
        var encoder = weights.Root.Pp("encoder");
        var blocks = encoder.Pp("down_blocks");
        int dim = config.BaseDim, n = config.DimMult.Length;
        ConvIn = CogVideoXCausalConv3d.LoadZeroPadded(encoder.Pp("conv_in"), config.InChannels, dim, 3, 3);
        var down = new List<object>();
        int inDim = dim;
        for (int i = 0; i < n; i++)
        {
            int outDim = dim * config.DimMult[i];
            for (int r = 0; r < config.NumResBlocks; r++)
            {
                down.Add(new WanResidualBlock(blocks.Pp(down.Count), inDim, outDim));
                inDim = outDim;
            }
            if (i != n - 1) down.Add(new WanDownsample(blocks.Pp(down.Count), outDim, config.TemperalDownsample[i]));
        }
        Down = down;
        int top = dim * config.DimMult[^1];
        MidBlock = new WanMidBlock(encoder.Pp("mid_block"), top);
        NormOut = WanRmsNorm.Load(encoder.Pp("norm_out"), top, images: false);
        ConvOut = CogVideoXCausalConv3d.LoadZeroPadded(encoder.Pp("conv_out"), top, 2 * config.ZDim, 3, 3);
        var q = weights.Root.Pp("quant_conv");
        int z2 = 2 * config.ZDim;
        QuantWeight = q.GetOperand("weight", z2, z2, 1, 1, 1).Reshape(z2, z2, 1, 1);
        QuantBias = q.GetOperand("bias", z2);
    }

    public WanVaeConfig Config { get; }
    public CogVideoXCausalConv3d ConvIn { get; }
    /// <summary>The down blocks in checkpoint order: <see cref="WanResidualBlock"/>s and <see cref="WanDownsample"/>s.</summary>
    public IReadOnlyList<object> Down { get; }
    public WanMidBlock MidBlock { get; }
    public WanRmsNorm NormOut { get; }
    public CogVideoXCausalConv3d ConvOut { get; }
    /// <summary>quant_conv as a 1×1 Conv2d weight [2z, 2z, 1, 1].</summary>
    public Tensor QuantWeight { get; }
    public Tensor QuantBias { get; }
    /// <summary>Whether the encoder computes in float32 whatever the activations' dtype (see
    /// <see cref="AutoencoderKLWan.Float32"/>).</summary>
    public bool Float32 { get; private init; }

    /// <summary>Loads config.json and the encoder's weights of a diffusers AutoencoderKLWan folder.</summary>
    public static WanVaeEncoder Load(string dir, IOps ops, bool float32 = false)
    {
        var config = WanVaeConfig.Load(Path.Combine(dir, "config.json"));
        using var source = Checkpoint.Open(dir);
        return Load(config, source, ops, float32);
    }

    public static WanVaeEncoder Load(WanVaeConfig config, ITensorSource source, IOps ops, bool float32 = false)
    {
        var weights = new ModelWeights(source, ops, float32 ? DType.F32 : null);
        try { return weights.Checked(new WanVaeEncoder(config, weights) { Float32 = float32 }, "decoder", "post_quant_conv"); }
        catch { weights.Dispose(); throw; }
    }

    /// <summary>Latent frames of a video of <paramref name="frames"/> frames: 1 + ⌊(T − 1)/4⌋.</summary>
    public int LatentFrames(int frames) => 1 + (frames - 1) / Config.TemporalFactor;

    /// <summary>Encodes a video [B, in_channels, T, H, W] in [−1, 1] to its latent distribution
    /// [B, z_dim, 1 + ⌊(T − 1)/4⌋, H/8, W/8], in float32 when <see cref="Float32"/>, else in the video's dtype.</summary>
    public VaeLatentDistribution Encode(IOps ops, Tensor video)
    {
        if (video.Rank != 5 || video.Dim(1) != Config.InChannels || video.Dim(2) < 1)
            throw new ArgumentException($"{Config.Path}: encode expects a video [B, {Config.InChannels}, T ≥ 1, H, W], got {Shape.Format(video.ShapeSpan)}");
        var dtype = Float32 ? DType.F32 : video.DType;
        int chunks = LatentFrames(video.Dim(2)), step = Config.TemporalFactor;
        var outs = new List<Tensor>(chunks);
        try
        {
            using var cache = new CogVideoXConvCache();
            using var last = new WanDownsampleCache();
            for (int i = 0; i < chunks; i++)
            {
                var frames = i == 0 ? video.Slice(2, 0, 1) : video.Slice(2, 1 + step * (i - 1), step);
                using var cast = frames.DType != dtype ? ops.Cast(frames, dtype) : null;
                outs.Add(EncodeChunk(ops, cast ?? frames, cache, last));
            }
            using var moments = outs.Count == 1 ? ops.Contiguous(outs[0]) : ops.Concat(2, [.. outs]);
            return Distribution(ops, moments);
        }
        finally { foreach (var t in outs) t.Dispose(); }
    }

    /// <summary>One pass of diffusers' WanEncoder3d over a chunk x [B, C, T, H, W] → [B, 2z, T', h, w].</summary>
    Tensor EncodeChunk(IOps ops, Tensor x, CogVideoXConvCache cache, WanDownsampleCache last)
    {
        var h = ConvIn.Forward(ops, x, cache);
        foreach (var layer in Down)
            h = Step(h, layer switch
            {
                WanResidualBlock r => r.Forward(ops, h, cache),
                WanDownsample d => d.Forward(ops, h, last),
                _ => throw new InvalidOperationException(layer.GetType().Name),
            });
        h = Step(h, MidBlock.Forward(ops, h, cache));
        Tensor a;
        using (h) a = NormOut.ChannelsFirst(ops, h, Activation.Silu);
        using (a) return ConvOut.Forward(ops, a, cache);
    }

    /// <summary>quant_conv over the moments [B, 2z, F, h, w], then the mean and the log-variance clamped to
    /// [−30, 20] (on the host: latent-sized).</summary>
    VaeLatentDistribution Distribution(IOps ops, Tensor moments)
    {
        int b = moments.Dim(0), c2 = moments.Dim(1), f = moments.Dim(2), h = moments.Dim(3), w = moments.Dim(4), z = Config.ZDim;
        using var q = ops.Conv2d(moments.Reshape(b, c2, f * h, w), QuantWeight, QuantBias).TakeReshaped(b, c2, f, h, w);
        var mean = ops.Contiguous(q.Slice(1, 0, z));
        try
        {
            var logVar = ops.ToHost(q.Slice(1, z, z));
            for (int i = 0; i < logVar.Length; i++) logVar[i] = Math.Clamp(logVar[i], VaeLatentDistribution.MinLogVar, VaeLatentDistribution.MaxLogVar);
            var lv = ops.FromHost(logVar, b, z, f, h, w);
            if (lv.DType != q.DType)
            {
                using var other = lv;
                lv = ops.Cast(other, q.DType);
            }
            return new VaeLatentDistribution(mean, lv);
        }
        catch { mean.Dispose(); throw; }
    }

    static Tensor Step(Tensor previous, Tensor next)
    {
        previous.Dispose();
        return next;
    }

    public void Dispose() => _weights.Dispose();
}
