using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae;

/// <summary>
/// diffusers' AutoencoderKL: <see cref="Decode"/> equals <c>vae.decode(z).sample</c>. The pipeline turns latents into
/// z (latents / scaling_factor + shift_factor) before calling it; the result is the image [B, out_channels, H·f, W·f]
/// in about [−1, 1]. The encoder (<see cref="Encoder"/>, <see cref="Encode"/>, <see cref="EncodeLatents"/>) is
/// loaded from the same folder the first time a pipeline encodes an image, so a text-to-image pipeline never holds
/// its weights and a decode-only checkpoint loads as before (encoding it fails naming the file and the tensor).
/// </summary>
public sealed class AutoencoderKL : IDisposable
{
    readonly ModelWeights _weights;
    readonly string _dir;
    readonly Lock _encoderLock = new();
    VaeEncoder? _encoder;

    AutoencoderKL(AutoencoderKLConfig config, ModelWeights weights, string dir)
    {
        Config = config;
        _weights = weights;
        _dir = dir;
        var w = weights.Root;
        var decoder = w.Pp("decoder");
        int c = config.LatentChannels, mid = config.MidChannels, g = config.NormNumGroups;

        if (config.UsePostQuantConv) PostQuantConv = VaeConv.Load(w.Pp("post_quant_conv"), c, c, 1);
        ConvIn = VaeConv.Load(decoder.Pp("conv_in"), c, mid, 3);
        var midBlock = decoder.Pp("mid_block");
        MidResnet0 = new VaeResnetBlock(midBlock.Pp("resnets.0"), mid, mid, g);
        if (config.MidBlockAddAttention) MidAttention = new VaeAttentionBlock(midBlock.Pp("attentions.0"), mid, g);
        MidResnet1 = new VaeResnetBlock(midBlock.Pp("resnets.1"), mid, mid, g);

        // Up blocks run from the widest channels back to the narrowest (reversed block_out_channels).
        var reversed = config.BlockOutChannels.Reverse().ToArray();
        var ups = new VaeUpBlock[reversed.Length];
        int prev = reversed[0];
        for (int i = 0; i < reversed.Length; i++)
        {
            ups[i] = new VaeUpBlock(decoder.Pp("up_blocks").Pp(i), prev, reversed[i], config.LayersPerBlock + 1, g, upsample: i < reversed.Length - 1);
            prev = reversed[i];
        }
        UpBlocks = ups;

        int first = config.BlockOutChannels[0];
        NormOut = VaeGroupNorm.Load(decoder.Pp("conv_norm_out"), first, g);
        ConvOut = VaeConv.Load(decoder.Pp("conv_out"), first, config.OutChannels, 3);
    }

    public AutoencoderKLConfig Config { get; }
    /// <summary>Pixels per latent pixel along each axis.</summary>
    public int SpatialFactor => Config.SpatialFactor;
    /// <summary>Bytes of the decoder's weights, plus the encoder's once it was loaded.</summary>
    public long WeightBytes => _weights.Bytes + (_encoder?.WeightBytes ?? 0);

    public VaeConv? PostQuantConv { get; }
    public VaeConv ConvIn { get; }
    public VaeResnetBlock MidResnet0 { get; }
    public VaeAttentionBlock? MidAttention { get; }
    public VaeResnetBlock MidResnet1 { get; }
    public IReadOnlyList<VaeUpBlock> UpBlocks { get; }
    public VaeGroupNorm NormOut { get; }
    public VaeConv ConvOut { get; }

    /// <summary>Whether the decoder computes in float32 whatever the activations' dtype: its convolution and
    /// attention weights are float32 and <see cref="Decode(IOps, Tensor, VaeSpatialOps)"/> casts z to float32, so
    /// every op (each computes in its input's dtype) runs in float32 and the image comes back in float32
    /// (diffusers' upcast_vae for a force_upcast VAE in a float16 pipeline). Patch-parallel too: every communicator
    /// hands tensors back in the dtype it was given (HostUpload for the in-process and TCP ones), so the halo rows and
    /// the gathered image stay float32.</summary>
    public bool Float32 { get; private init; }

    /// <summary>Loads config.json and the decoder weights of a diffusers AutoencoderKL folder.</summary>
    /// <param name="float32">keep the weights in float32 and decode in float32 (<see cref="Float32"/>); false: the
    /// backend's activation dtype, as every model</param>
    public static AutoencoderKL Load(string dir, IOps ops, bool float32 = false)
    {
        var config = AutoencoderKLConfig.Load(Path.Combine(dir, "config.json"));
        using var source = Checkpoint.Open(dir);
        var weights = new ModelWeights(source, ops, float32 ? DType.F32 : null);
        try { return weights.Checked(new AutoencoderKL(config, weights, dir) { Float32 = float32 }, "encoder", "quant_conv"); }
        catch { weights.Dispose(); throw; }
    }

    /// <summary>Decodes z [B, latent_channels, h, w] (already divided by the scaling factor and shifted) to the
    /// image [B, out_channels, h·f, w·f].</summary>
    public Tensor Decode(IOps ops, Tensor z) => Decode(ops, z, VaeSpatialOps.Local);

    /// <summary><see cref="Decode(IOps, Tensor)"/> with the spatially coupled operations supplied by
    /// <paramref name="spatial"/> (a patch-parallel decoder passes its own).</summary>
    public Tensor Decode(IOps ops, Tensor z, VaeSpatialOps spatial)
    {
        if (z.Rank != 4 || z.Dim(1) != Config.LatentChannels)
            throw new ArgumentException($"{Config.Path}: decode expects z [B, {Config.LatentChannels}, h, w], got {Shape.Format(z.ShapeSpan)}");
        if (Float32 && z.DType != DType.F32)
        {
            using var z32 = ops.Cast(z, DType.F32);
            return Decode(ops, z32, spatial);
        }

        Tensor h;
        if (PostQuantConv is not null)
        {
            using var q = spatial.Conv(ops, z, PostQuantConv);
            h = spatial.Conv(ops, q, ConvIn);
        }
        else h = spatial.Conv(ops, z, ConvIn);

        h = Step(h, MidResnet0.Forward(ops, h, spatial));
        if (MidAttention is not null) h = Step(h, MidAttention.Forward(ops, h, spatial));
        h = Step(h, MidResnet1.Forward(ops, h, spatial));
        foreach (var up in UpBlocks) h = Step(h, up.Forward(ops, h, spatial));

        using (h)
        {
            using var a = VaeResnetBlock.NormSilu(ops, h, NormOut, spatial);
            return spatial.Conv(ops, a, ConvOut);
        }
    }

    /// <summary>The encoder, loaded from the folder this VAE came from on first use (on the backend the decoder's
    /// weights went to, float32 when <see cref="Float32"/>) and kept until <see cref="Dispose"/>. Throws naming the
    /// file and tensor when the checkpoint holds no encoder.</summary>
    public VaeEncoder Encoder
    {
        get
        {
            lock (_encoderLock)
                return _encoder ??= VaeEncoder.Load(Config, _dir, _weights.Ops, Float32);
        }
    }

    /// <summary>Whether <see cref="Encoder"/> has been loaded.</summary>
    public bool EncoderLoaded => _encoder is not null;

    /// <summary><c>vae.encode(image).latent_dist</c>: mean and clamped log-variance of images [B, in_channels, H, W]
    /// in [−1, 1] (<see cref="VaeEncoder.Encode"/>).</summary>
    public VaeLatentDistribution Encode(IOps ops, Tensor image) => Encoder.Encode(ops, image);

    /// <summary>The latents of images [B, in_channels, H, W] in [−1, 1], as Flux Kontext and the img2img pipelines
    /// make them: the mean (retrieve_latents "argmax"), then (mean − shift_factor) · scaling_factor, in the
    /// activations' dtype, [B, latent_channels, H/f, W/f] (<see cref="VaeEncoder.EncodeLatents"/>).</summary>
    public Tensor EncodeLatents(IOps ops, Tensor image) => Encoder.EncodeLatents(ops, image);

    /// <summary>Disposes the previous activation and returns the next.</summary>
    static Tensor Step(Tensor previous, Tensor next)
    {
        previous.Dispose();
        return next;
    }

    public void Dispose()
    {
        lock (_encoderLock)
        {
            _encoder?.Dispose();
            _encoder = null;
        }
        _weights.Dispose();
    }
}
