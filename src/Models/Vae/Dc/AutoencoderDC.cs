using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae.Dc;

/// <summary>
/// The decoder half of diffusers' AutoencoderDC (SANA's DC-AE): <see cref="Decode(IOps, Tensor)"/> equals
/// <c>vae.decode(z).sample</c> without tiling. The pipeline divides its latents by scaling_factor before calling it;
/// the result is the image [B, in_channels, h·f, w·f] in about [−1, 1]. The encoder's tensors are not loaded.
/// conv_in (plus the latent's channels repeated up to its width), the stages from the deepest to the image side
/// (each an up block, except the deepest, then its ResBlocks or EfficientViTBlocks), RMSNorm over channels, the
/// conv activation and conv_out.
/// </summary>
public sealed class AutoencoderDC : IDisposable
{
    readonly ModelWeights _weights;

    AutoencoderDC(AutoencoderDCConfig config, ModelWeights weights)
    {
        Config = config;
        _weights = weights;
        var decoder = weights.Root.Pp("decoder");
        int n = config.NumStages;
        var channels = config.BlockOutChannels;
        ConvIn = DcConv.Load(decoder.Pp("conv_in"), config.LatentChannels, config.DeepestChannels, 3);
        InShortcutRepeats = config.InShortcut ? config.DeepestChannels / config.LatentChannels : 0;

        // diffusers stores up_blocks.i for stage i (image side first) and runs them from the deepest stage back.
        var stages = new List<IReadOnlyList<IDcLayer>>();
        for (int i = n - 1; i >= 0; i--)
        {
            var w = decoder.Pp("up_blocks").Pp(i);
            var layers = new List<IDcLayer>();
            if (i < n - 1) layers.Add(new DcUpBlock(w.Pp(0), channels[i + 1], channels[i], config.Interpolate));
            for (int j = 0; j < config.LayersPerBlock[i]; j++)
            {
                var lw = w.Pp(layers.Count);
                layers.Add(config.BlockTypes[i] switch
                {
                    DcBlockType.ResBlock => new DcResBlock(lw, channels[i], config.ActFns[i]),
                    _ => new DcEfficientVitBlock(lw, channels[i], config.AttentionHeadDim, config.QkvMultiscales[i]),
                });
            }
            stages.Add(layers);
        }
        Stages = stages;
        NormOut = ChannelRmsNorm.Load(decoder.Pp("norm_out"), channels[0]);
        ConvOut = DcConv.Load(decoder.Pp("conv_out"), channels[0], config.InChannels, 3);
    }

    public AutoencoderDCConfig Config { get; }
    /// <summary>Pixels per latent pixel along each axis.</summary>
    public int SpatialFactor => Config.SpatialFactor;
    public long WeightBytes => _weights.Bytes;

    public DcConv ConvIn { get; }
    /// <summary>How many times the input shortcut repeats each latent channel (0: no shortcut).</summary>
    public int InShortcutRepeats { get; }
    /// <summary>The stages in the order they run (deepest first), each its modules in order.</summary>
    public IReadOnlyList<IReadOnlyList<IDcLayer>> Stages { get; }
    public ChannelRmsNorm NormOut { get; }
    public DcConv ConvOut { get; }

    /// <summary>Loads config.json and the decoder weights of a diffusers AutoencoderDC folder.</summary>
    public static AutoencoderDC Load(string dir, IOps ops)
    {
        var config = AutoencoderDCConfig.Load(Path.Combine(dir, "config.json"));
        using var source = Checkpoint.Open(dir);
        var weights = new ModelWeights(source, ops);
        try { return weights.Checked(new AutoencoderDC(config, weights), "encoder"); }
        catch { weights.Dispose(); throw; }
    }

    /// <summary>Decodes z [B, latent_channels, h, w] (already divided by the scaling factor) to the image
    /// [B, in_channels, h·f, w·f].</summary>
    public Tensor Decode(IOps ops, Tensor z) => Decode(ops, z, DcSpatialOps.Local);

    /// <summary><see cref="Decode(IOps, Tensor)"/> with the spatially coupled operations supplied by
    /// <paramref name="spatial"/> (a patch-parallel decoder passes its own).</summary>
    public Tensor Decode(IOps ops, Tensor z, DcSpatialOps spatial)
    {
        if (z.Rank != 4 || z.Dim(1) != Config.LatentChannels)
            throw new ArgumentException($"{Config.Path}: decode expects z [B, {Config.LatentChannels}, h, w], got {Shape.Format(z.ShapeSpan)}");

        var h = spatial.Conv(ops, z, ConvIn);
        if (InShortcutRepeats > 0)
        {
            using var repeated = DcChannelLayout.RepeatChannels(ops, z, InShortcutRepeats);
            h = Step(h, ops.Add(h, repeated));
        }
        foreach (var stage in Stages)
            foreach (var layer in stage)
                h = Step(h, layer.Forward(ops, h, spatial));

        using (h)
        {
            using var normed = NormOut.Forward(ops, h);
            using var act = ops.Activate(normed, Config.ConvActFn);
            return spatial.Conv(ops, act, ConvOut);
        }
    }

    /// <summary>Disposes the previous activation and returns the next.</summary>
    static Tensor Step(Tensor previous, Tensor next)
    {
        previous.Dispose();
        return next;
    }

    public void Dispose() => _weights.Dispose();
}
