using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae;

/// <summary>
/// The encoder half of diffusers' AutoencoderKL: <see cref="Encode"/> equals <c>vae.encode(x).latent_dist</c> (its
/// mean and clamped log-variance): conv_in; the down blocks (resnets, then a stride-2 downsampler in all but the last);
/// the mid block (resnet, attention, resnet); GroupNorm + SiLU; conv_out to 2·latent_channels; quant_conv when the
/// config has use_quant_conv. It owns its weights, loaded on their own (<see cref="Load(string, IOps, bool)"/>), so a
/// decode-only checkpoint never needs them and an encode-only one (a fixture) never needs the decoder's.
/// </summary>
public sealed class VaeEncoder : IDisposable
{
    /// <summary>The first tensor the encoder reads: when it is absent the checkpoint holds no encoder at all.</summary>
    const string FirstTensor = "encoder.conv_in.weight";

    readonly ModelWeights _weights;

    VaeEncoder(AutoencoderKLConfig config, ModelWeights weights, bool float32)
    {
        config.ValidateEncoder();
        Config = config;
        Float32 = float32;
        _weights = weights;
        var w = weights.Root;
        var encoder = w.Pp("encoder");
        int g = config.NormNumGroups, mid = config.MidChannels, blocks = config.BlockOutChannels.Length;

        ConvIn = VaeConv.Load(encoder.Pp("conv_in"), config.InChannels, config.BlockOutChannels[0], 3);
        var downs = new VaeDownBlock[blocks];
        int prev = config.BlockOutChannels[0];
        for (int i = 0; i < blocks; i++)
        {
            int ch = config.BlockOutChannels[i];
            downs[i] = new VaeDownBlock(encoder.Pp("down_blocks").Pp(i), prev, ch, config.LayersPerBlock, g, downsample: i < blocks - 1);
            prev = ch;
        }
        DownBlocks = downs;

        var midBlock = encoder.Pp("mid_block");
        MidResnet0 = new VaeResnetBlock(midBlock.Pp("resnets.0"), mid, mid, g);
        if (config.MidBlockAddAttention) MidAttention = new VaeAttentionBlock(midBlock.Pp("attentions.0"), mid, g);
        MidResnet1 = new VaeResnetBlock(midBlock.Pp("resnets.1"), mid, mid, g);
        NormOut = VaeGroupNorm.Load(encoder.Pp("conv_norm_out"), mid, g);
        // double_z: the mean and the log-variance, stacked on the channel axis
        int moments = 2 * config.LatentChannels;
        ConvOut = VaeConv.Load(encoder.Pp("conv_out"), mid, moments, 3);
        if (config.UseQuantConv) QuantConv = VaeConv.Load(w.Pp("quant_conv"), moments, moments, 1);
    }

    public AutoencoderKLConfig Config { get; }
    /// <summary>Whether the encoder computes in float32 (weights and activations), as <see cref="AutoencoderKL.Float32"/>.</summary>
    public bool Float32 { get; }
    public long WeightBytes => _weights.Bytes;

    public VaeConv ConvIn { get; }
    public IReadOnlyList<VaeDownBlock> DownBlocks { get; }
    public VaeResnetBlock MidResnet0 { get; }
    public VaeAttentionBlock? MidAttention { get; }
    public VaeResnetBlock MidResnet1 { get; }
    public VaeGroupNorm NormOut { get; }
    public VaeConv ConvOut { get; }
    public VaeConv? QuantConv { get; }

    /// <summary>Loads config.json and the encoder weights (encoder.*, quant_conv.*) of a diffusers AutoencoderKL
    /// folder; the decoder's are not read.</summary>
    public static VaeEncoder Load(string dir, IOps ops, bool float32 = false)
        => Load(AutoencoderKLConfig.Load(Path.Combine(dir, "config.json")), dir, ops, float32);

    /// <summary>The encoder of the checkpoint in <paramref name="dir"/> under an already loaded config. A checkpoint
    /// without the encoder's tensors is refused naming the file and the first tensor missing.</summary>
    public static VaeEncoder Load(AutoencoderKLConfig config, string dir, IOps ops, bool float32 = false)
    {
        using var source = Checkpoint.Open(dir);
        if (!source.Contains(FirstTensor))
            throw new FormatException($"{source.Path}: tensor '{FirstTensor}' is not in the checkpoint: it holds no VAE encoder " +
                "(a decode-only export?), so it cannot encode images", new MissingTensorException(source.Path, FirstTensor));
        var weights = new ModelWeights(source, ops, float32 ? DType.F32 : null);
        try { return weights.Checked(new VaeEncoder(config, weights, float32), "decoder", "post_quant_conv"); }
        catch { weights.Dispose(); throw; }
    }

    /// <summary>
    /// Encodes images [B, in_channels, H, W] in [−1, 1] (H and W multiples of <see cref="AutoencoderKLConfig.SpatialFactor"/>)
    /// to the latent distribution [B, latent_channels, H/f, W/f]. The tensors come back in the dtype the encoder
    /// computes in: the image's, or float32 when <see cref="Float32"/>.
    /// </summary>
    public VaeLatentDistribution Encode(IOps ops, Tensor image)
    {
        using var moments = Moments(ops, image);
        return Distribution(ops, moments);
    }

    /// <summary>The latent distribution of the encoder's <paramref name="moments"/> (<see cref="Moments(IOps, Tensor)"/>,
    /// or a patch-parallel encode's gathered ones): the mean, and the log-variance clamped to [−30, 20].</summary>
    public VaeLatentDistribution Distribution(IOps ops, Tensor moments)
    {
        int b = moments.Dim(0), c = Config.LatentChannels, h = moments.Dim(2), w = moments.Dim(3);
        var mean = ops.Contiguous(moments.Slice(1, 0, c));
        try
        {
            // clamp(logvar, −30, 20) on the host: the log-variance is latent-sized (small beside the encoder's
            // activations), so a device op of its own is not worth it
            var logVar = ops.ToHost(moments.Slice(1, c, c));
            for (int i = 0; i < logVar.Length; i++) logVar[i] = Math.Clamp(logVar[i], VaeLatentDistribution.MinLogVar, VaeLatentDistribution.MaxLogVar);
            var lv = ops.FromHost(logVar, b, c, h, w);
            if (lv.DType != moments.DType)
            {
                using var other = lv;
                lv = ops.Cast(other, moments.DType);
            }
            return new VaeLatentDistribution(mean, lv);
        }
        catch { mean.Dispose(); throw; }
    }

    /// <summary>
    /// The latents a pipeline starts from for an image [B, in_channels, H, W] in [−1, 1]: the distribution's mean
    /// (diffusers' retrieve_latents with sample_mode "argmax", as Flux Kontext and the img2img pipelines take it
    /// without a generator-drawn sample), then (mean − shift_factor) · scaling_factor (shift 0 when the config has
    /// none). Returned in <see cref="IOps.ActivationType"/> (cast back from float32 when <see cref="Float32"/>),
    /// [B, latent_channels, H/f, W/f].
    /// </summary>
    public Tensor EncodeLatents(IOps ops, Tensor image)
    {
        using var moments = Moments(ops, image);
        return Latents(ops, moments);
    }

    /// <summary>The scaled latents (<see cref="EncodeLatents"/>) of the encoder's <paramref name="moments"/>
    /// (<see cref="Moments(IOps, Tensor)"/>, or a patch-parallel encode's gathered ones).</summary>
    public Tensor Latents(IOps ops, Tensor moments)
    {
        Tensor latents;
        using (var mean = moments.Slice(1, 0, Config.LatentChannels))
        {
            float scale = (float)Config.ScalingFactor, shift = (float)(Config.ShiftFactor ?? 0);
            // (mean − shift)·scale = mean·scale − shift·scale, one pass that also makes the view contiguous
            latents = ops.Scale(mean, scale, -shift * scale);
        }
        if (latents.DType == ops.ActivationType) return latents;
        using (latents) return ops.Cast(latents, ops.ActivationType);
    }

    /// <summary>The encoder's raw output [B, 2·latent_channels, H/f, W/f] after quant_conv: mean, then log-variance
    /// (unclamped).</summary>
    public Tensor Moments(IOps ops, Tensor image) => Moments(ops, image, VaeSpatialOps.Local);

    /// <summary><see cref="Moments(IOps, Tensor)"/> with the spatially coupled operations supplied by
    /// <paramref name="spatial"/> (a patch-parallel encoder passes its own and a band of the image's rows).</summary>
    public Tensor Moments(IOps ops, Tensor image, VaeSpatialOps spatial)
    {
        int f = Config.SpatialFactor;
        if (image.Rank != 4 || image.Dim(1) != Config.InChannels)
            throw new ArgumentException($"{Config.Path}: encode expects an image [B, {Config.InChannels}, H, W], got {Shape.Format(image.ShapeSpan)}");
        if (image.Dim(2) % f != 0 || image.Dim(3) % f != 0 || image.Dim(2) == 0 || image.Dim(3) == 0)
            throw new ArgumentException($"{Config.Path}: encode expects an image whose height and width are positive multiples of {f} " +
                $"(the VAE's spatial factor), got {image.Dim(2)}x{image.Dim(3)}");
        if (Float32 && image.DType != DType.F32)
        {
            using var x32 = ops.Cast(image, DType.F32);
            return Moments(ops, x32, spatial);
        }

        var h = spatial.Conv(ops, image, ConvIn);
        foreach (var down in DownBlocks) h = Step(h, down.Forward(ops, h, spatial));
        h = Step(h, MidResnet0.Forward(ops, h, spatial));
        if (MidAttention is not null) h = Step(h, MidAttention.Forward(ops, h, spatial));
        h = Step(h, MidResnet1.Forward(ops, h, spatial));
        using (h)
        {
            using var a = VaeResnetBlock.NormSilu(ops, h, NormOut, spatial);
            if (QuantConv is null) return spatial.Conv(ops, a, ConvOut);
            using var m = spatial.Conv(ops, a, ConvOut);
            return spatial.Conv(ops, m, QuantConv);
        }
    }

    static Tensor Step(Tensor previous, Tensor next)
    {
        previous.Dispose();
        return next;
    }

    public void Dispose() => _weights.Dispose();
}
