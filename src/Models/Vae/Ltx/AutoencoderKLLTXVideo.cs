using XDit.Kernels;
using XDit.Models.Vae.CogVideoX;
using XDit.Runtime;

namespace XDit.Models.Vae.Ltx;

/// <summary>
/// The decoder of diffusers' AutoencoderKLLTXVideo (LTX-Video's video VAE): <see cref="Decode"/> equals
/// <c>vae.decode(z, temb).sample</c> with tiling and framewise decoding off. z is what the pipeline makes of its
/// latents first (LTXPipeline denormalizes them with latents_mean / latents_std and scaling_factor,
/// <see cref="LatentsMean"/>); the result is the video [B, out_channels / p_t, <see cref="OutputFrames"/>(F),
/// h·s, w·s] (s = <see cref="SpatialFactor"/>), not clamped.
///
/// As diffusers' LTXVideoDecoder3d, in one pass over all frames (no frame batching, no cache: each convolution pads
/// its frames by repeating the edge ones, causal or not per decoder_causal): conv_in, the mid block, the up blocks
/// (each optionally a width change, a depth-to-space upsampler, resnets), norm_out (a pixel RMS norm) with the
/// decoder's timestep modulation, SiLU, conv_out and the unpatchify of patch_size / patch_size_t. With
/// timestep_conditioning the decode timestep (LTXPipeline's decode_timestep, 0 by default, 0.05 in the fixture; the
/// pipeline also mixes that much noise into the latents first) is multiplied by the checkpoint's
/// timestep_scale_multiplier (1000) in float32 and embedded by the mid block, each up block and the decoder, each with
/// its own MLP. Tensors are [B, C, T, H, W] between layers, as diffusers'; the encoder's tensors are
/// not loaded. One device decodes: it is not a DiffusionTransformer, so the sequence-parallel executors do not apply.
/// </summary>
public sealed class AutoencoderKLLTXVideo : IDisposable
{
    readonly ModelWeights _weights;

    AutoencoderKLLTXVideo(LtxVaeConfig config, ModelWeights weights)
    {
        Config = config;
        _weights = weights;
        var root = weights.Root;
        var decoder = root.Pp("decoder");
        bool causal = config.DecoderCausal;
        ConvIn = LtxCausalConv3d.Load(decoder.Pp("conv_in"), config.LatentChannels, config.MidChannels, 3, causal);
        MidBlock = new LtxMidBlock3d(decoder.Pp("mid_block"), config);
        UpBlocks = Enumerable.Range(0, config.UpBlockCount).Select(i => new LtxUpBlock3d(decoder.Pp("up_blocks").Pp(i), config, i)).ToArray();
        int last = config.LastChannels;
        ConvOut = LtxCausalConv3d.Load(decoder.Pp("conv_out"), last, config.ConvOutChannels, 3, causal);
        if (config.TimestepConditioning)
        {
            TimestepScaleMultiplier = decoder.HostScalar("timestep_scale_multiplier");
            TimeEmbedder = LtxTimeEmbedder.Load(decoder, 2 * last);
            ScaleShiftTable = decoder.GetOperand("scale_shift_table", 2, last);
        }
        // the pipeline's statistics (buffers of the model, not of the decoder): read so that they are not reported
        // as unused, kept on the host
        int z = config.LatentChannels;
        LatentsMean = root.Has("latents_mean") ? weights.Ops.ToHost(root.Get("latents_mean", z)) : new float[z];
        LatentsStd = root.Has("latents_std") ? weights.Ops.ToHost(root.Get("latents_std", z)) : Enumerable.Repeat(1f, z).ToArray();
    }

    public LtxVaeConfig Config { get; }
    public LtxCausalConv3d ConvIn { get; }
    public LtxMidBlock3d MidBlock { get; }
    public IReadOnlyList<LtxUpBlock3d> UpBlocks { get; }
    public LtxCausalConv3d ConvOut { get; }
    /// <summary>The checkpoint's decoder.timestep_scale_multiplier (1000 in LTX-Video 0.9.1+), when conditioned.</summary>
    public float TimestepScaleMultiplier { get; } = 1f;
    public LtxTimeEmbedder? TimeEmbedder { get; }
    /// <summary>decoder.scale_shift_table [2, C] (shift, scale of norm_out), when conditioned.</summary>
    public Tensor? ScaleShiftTable { get; }
    /// <summary>The checkpoint's latents_mean / latents_std buffers [latent_channels] (zeros / ones when absent): the
    /// pipeline's, decode never reads them.</summary>
    public float[] LatentsMean { get; }
    public float[] LatentsStd { get; }

    /// <summary>Elements of gathered input one convolution call reads at most
    /// (<see cref="CogVideoXCausalConv3d.DefaultGatherElements"/>); results do not depend on it.</summary>
    public long ConvGatherElements { get; set; } = CogVideoXCausalConv3d.DefaultGatherElements;
    /// <summary>Pixels per latent pixel along each axis.</summary>
    public int SpatialFactor => Config.SpatialFactor;
    /// <summary>Bytes of the decoder's weights.</summary>
    public long WeightBytes => _weights.Bytes;

    /// <summary>Loads config.json and the decoder's weights of a diffusers AutoencoderKLLTXVideo folder.</summary>
    public static AutoencoderKLLTXVideo Load(string dir, IOps ops)
    {
        var config = LtxVaeConfig.Load(Path.Combine(dir, "config.json"));
        using var source = Checkpoint.Open(dir);
        return Load(config, source, ops);
    }

    /// <summary>The decoder of <paramref name="config"/> with its weights from <paramref name="source"/> (a
    /// checkpoint, or random weights at the real size).</summary>
    public static AutoencoderKLLTXVideo Load(LtxVaeConfig config, ITensorSource source, IOps ops)
    {
        var weights = new ModelWeights(source, ops);
        try { return weights.Checked(new AutoencoderKLLTXVideo(config, weights), "encoder"); }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    /// <summary>Video frames made from <paramref name="latentFrames"/> latent frames.</summary>
    public int OutputFrames(int latentFrames) => Config.OutputFrames(latentFrames);

    /// <summary>Decodes z [B, latent_channels, F, h, w] (any strides) with the decode timestep of each row
    /// (<paramref name="timestep"/>: B values, or one for every row; required when timestep_conditioning, ignored
    /// otherwise, as diffusers ignores it) to the video [B, out_channels / p_t, <see cref="OutputFrames"/>(F),
    /// h·s, w·s], in the backend's activation dtype.</summary>
    public Tensor Decode(IOps ops, Tensor z, ReadOnlySpan<float> timestep = default)
    {
        if (z.Rank != 5 || z.Dim(1) != Config.LatentChannels || z.Dim(2) < 1 || z.Dim(3) < 1 || z.Dim(4) < 1)
            throw new ArgumentException($"{Config.Path}: decode expects z [B, {Config.LatentChannels}, F ≥ 1, h, w], got {Shape.Format(z.ShapeSpan)}");
        int b = z.Dim(0);
        float[] scaled = [];
        if (Config.TimestepConditioning)
        {
            if (timestep.Length != b && timestep.Length != 1)
                throw new ArgumentException($"{Config.Path}: timestep_conditioning is true: decode needs a timestep (temb) per row of z, {b} values or one for all, got {timestep.Length}");
            scaled = new float[b];
            for (int i = 0; i < b; i++) scaled[i] = timestep[timestep.Length == 1 ? 0 : i] * TimestepScaleMultiplier;
        }
        var dtype = _weights.OperandType;
        using var zc = z.DType != dtype ? ops.Cast(z, dtype) : null;
        long gather = ConvGatherElements;

        var h = ConvIn.Forward(ops, zc ?? z, null, gather);
        h = MidBlock.Forward(ops, h, scaled, gather);      // each block takes its input
        foreach (var up in UpBlocks) h = up.Forward(ops, h, scaled, gather);
        Tensor y;
        using (h)
        {
            Tensor[]? mod = null;
            try
            {
                if (TimeEmbedder is not null)
                {
                    using var temb = TimeEmbedder.Embed(ops, scaled);
                    mod = LtxTimeEmbedder.Parts(ops, temb, ScaleShiftTable!);
                }
                using (LtxPixelNorm.Apply(ops, h, mod?[0], mod?[1], out var a)) y = ConvOut.Forward(ops, a, null, gather);
            }
            finally
            {
                if (mod is not null) foreach (var t in mod) t.Dispose();
            }
        }
        if (Config.PatchSize == 1 && Config.PatchSizeT == 1) return y;
        using (y) return Unpatchify(ops, y);
    }

    /// <summary>conv_out's [B, C·p_t·p·p, T, H, W] → [B, C, T·p_t, H·p, W·p]: channel c·p_t·p² + k·p² + i·p + j goes
    /// to frame offset k, column offset i and row offset j (diffusers' permute takes the first patch axis as the
    /// width's).</summary>
    Tensor Unpatchify(IOps ops, Tensor y)
    {
        int p = Config.PatchSize, pt = Config.PatchSizeT;
        int b = y.Dim(0), t = y.Dim(2), h = y.Dim(3), w = y.Dim(4), c = y.Dim(1) / (pt * p * p);
        var output = ops.Empty(y.DType, b, c, t * pt, h * p, w * p);
        try
        {
            // [B, C, pt, p(w), p(h), T, H, W] → [B, C, T, pt, H, p(h), W, p(w)]
            var source = y.Reshape(b, c, pt, p, p, t, h, w).Permute(0, 1, 5, 2, 6, 4, 7, 3);
            ops.Copy(output.Reshape(b, c, t, pt, h, p, w, p), source);
        }
        catch { output.Dispose(); throw; }
        return output;
    }

    public void Dispose() => _weights.Dispose();
}
