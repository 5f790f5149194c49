using XDit.Kernels;
using XDit.Models.Embeddings;
using XDit.Models.Vae;
using XDit.Runtime;

namespace XDit.Models.Sdxl;

/// <summary>
/// diffusers UNet2DConditionModel as SDXL configures it, written against <see cref="IOps"/>. The timestep's
/// sinusoid (block_out_channels[0] wide) goes through time_embedding; with "text_time", the time ids' sinusoids
/// (addition_time_embed_dim each) follow text_embeds into add_embedding, whose output is added. conv_in, the down
/// blocks (keeping conv_in's output and every resnet/attention/downsampler output as skip states), the mid block,
/// the up blocks (consuming the skip states from the last, each upsampling to the size of the next skip state, so
/// any latent size works as in diffusers), then GroupNorm, SiLU and conv_out.
/// As the pipelines' denoiser it is a <see cref="DiffusionTransformer"/> with no token stages: it overrides
/// <see cref="Forward(IOps, DitInputs, IAttention?)"/> (one rank, CFG and data parallel run it whole) and refuses the
/// stage methods, which sequence parallelism, PipeFusion and the block caches would need.
/// </summary>
public sealed class SdxlUNet : DiffusionTransformer
{
    readonly ModelWeights _weights;
    readonly TimestepEmbedding _timeEmbedding;
    readonly TimestepEmbedding? _addEmbedding;
    readonly VaeConv _convIn, _convOut;
    readonly SdxlDownBlock[] _down;
    readonly SdxlMidBlock _mid;
    readonly SdxlUpBlock[] _up;
    readonly VaeGroupNorm _normOut;

    SdxlUNet(SdxlUNetConfig config, ModelWeights weights)
    {
        Config = config;
        _weights = weights;
        var w = weights.Root;
        var c = config;
        int first = c.BlockOutChannels[0];

        _timeEmbedding = TimestepEmbedding.Load(w.Pp("time_embedding"), c.TimeEmbedDim, first);
        if (c.HasTextTimeEmbedding)
            _addEmbedding = TimestepEmbedding.Load(w.Pp("add_embedding"), c.TimeEmbedDim, c.ProjectionClassEmbeddingsInputDim);
        else if (w.Has("add_embedding.linear_1.weight"))
            throw new FormatException($"{w.Source.Path}: holds add_embedding but config addition_embed_type is null");

        _convIn = VaeConv.Load(w.Pp("conv_in"), c.InChannels, first, c.ConvInKernel);
        var down = w.Pp("down_blocks");
        _down = new SdxlDownBlock[c.NumBlocks];
        int channels = first;
        for (int i = 0; i < c.NumBlocks; i++)
        {
            _down[i] = new SdxlDownBlock(down.Pp(i), c, i, channels);
            channels = c.BlockOutChannels[i];
        }
        _mid = new SdxlMidBlock(w.Pp("mid_block"), c);
        var up = w.Pp("up_blocks");
        _up = new SdxlUpBlock[c.NumBlocks];
        for (int i = 0; i < c.NumBlocks; i++)
        {
            _up[i] = new SdxlUpBlock(up.Pp(i), c, i, channels);
            channels = _up[i].OutChannels;
        }
        _normOut = VaeGroupNorm.Load(w.Pp("conv_norm_out"), first, c.NormNumGroups, c.NormEps);
        _convOut = VaeConv.Load(w.Pp("conv_out"), first, c.OutChannels, c.ConvOutKernel);
    }

    public SdxlUNetConfig Config { get; }
    /// <summary>Bytes of the weights on the backend.</summary>
    public override long WeightBytes => _weights.Bytes;

    /// <summary>Loads config.json and the weights of a diffusers unet folder.</summary>
    public static SdxlUNet Load(string dir, IOps ops)
    {
        var config = SdxlUNetConfig.Load(Path.Combine(dir, "config.json"));
        using var source = Checkpoint.Open(dir);
        return Load(config, source, ops);
    }

    public static SdxlUNet Load(SdxlUNetConfig config, ITensorSource source, IOps ops)
    {
        var w = new ModelWeights(source, ops);
        try { return w.Checked(new SdxlUNet(config, w)); }
        catch { w.Dispose(); throw; }
    }

    /// <summary>The pipelines' call: HiddenStates is the sample, PooledProjections the text_embeds, TimeIds the
    /// time_ids.</summary>
    public override Tensor Forward(IOps ops, DitInputs inputs, IAttention? attention = null)
        => Forward(ops, new SdxlUNetInputs
        {
            Sample = inputs.HiddenStates,
            Timestep = inputs.Timestep,
            EncoderHiddenStates = inputs.EncoderHiddenStates,
            TextEmbeds = inputs.PooledProjections,
            TimeIds = inputs.TimeIds,
        }, attention);

    /// <summary>One forward → the prediction [B, out_channels, H, W]. <paramref name="attention"/> runs the
    /// transformers' attention (default: this rank alone).</summary>
    public Tensor Forward(IOps ops, SdxlUNetInputs inputs, IAttention? attention = null)
    {
        attention ??= LocalAttention.Instance;
        var c = Config;
        var x = inputs.Sample;
        if (x.Rank != 4 || x.Dim(1) != c.InChannels)
            throw new ArgumentException($"UNet sample must be [B, {c.InChannels}, H, W]; got {Shape.Format(x.ShapeSpan)}");
        int b = x.Dim(0);
        var text = inputs.EncoderHiddenStates;
        if (text.Rank != 3 || text.Dim(0) != b || text.Dim(2) != c.CrossAttentionDim)
            throw new ArgumentException($"UNet encoder_hidden_states must be [{b}, T, {c.CrossAttentionDim}]; got {Shape.Format(text.ShapeSpan)}");

        Tensor tembActivated;
        using (var temb = TimeEmbedding(ops, inputs, b))
            tembActivated = ops.Activate(temb, Activation.Silu);
        using var _ = tembActivated;

        var skips = new List<Tensor>();
        Tensor? h = null;
        try
        {
            h = ops.Conv2d(x, _convIn.Weight, _convIn.Bias, 1, _convIn.Padding);
            skips.Add(h);
            foreach (var block in _down) h = block.Forward(ops, h, tembActivated, text, attention, skips);
            // h is the last skip state (the list owns it): the mid block reads it and makes a new one
            h = _mid.Forward(ops, h, tembActivated, text, attention);
            foreach (var block in _up)
            {
                using var old = h;
                h = block.Forward(ops, old, tembActivated, text, attention, skips);
            }
            using var act = ops.GroupNorm(h, _normOut.Groups, _normOut.Weight, _normOut.Bias, _normOut.Eps, Activation.Silu);
            return ops.Conv2d(act, _convOut.Weight, _convOut.Bias, 1, _convOut.Padding);
        }
        finally
        {
            if (h is not null && !skips.Contains(h)) h.Dispose();
            foreach (var s in skips) s.Dispose();
        }
    }

    /// <summary>time_embedding(sinusoid(t)), plus add_embedding(cat[text_embeds, sinusoid(time_ids) per row])
    /// with "text_time" → [B, time_embed_dim].</summary>
    Tensor TimeEmbedding(IOps ops, SdxlUNetInputs inputs, int b)
    {
        var c = Config;
        if (inputs.Timestep.Length != b)
            throw new ArgumentException($"UNet needs one timestep per batch row: {inputs.Timestep.Length} for batch {b}");
        Tensor emb;
        using (var s = Sinusoid(ops, inputs.Timestep, c.BlockOutChannels[0]))
            emb = _timeEmbedding.Apply(ops, s);
        if (_addEmbedding is not { } add) return emb;
        using (emb)
        {
            var textEmbeds = inputs.TextEmbeds ?? throw new ArgumentException("UNet with addition_embed_type \"text_time\" needs added_cond_kwargs text_embeds");
            var timeIds = inputs.TimeIds ?? throw new ArgumentException("UNet with addition_embed_type \"text_time\" needs added_cond_kwargs time_ids");
            int p = c.ProjectionClassEmbeddingsInputDim, d = c.AdditionTimeEmbedDim;
            if (timeIds.Length == 0 || timeIds.Length % b != 0)
                throw new ArgumentException($"UNet time_ids must hold the same number of values for each of the {b} batch rows; got {timeIds.Length}");
            int ids = timeIds.Length / b;
            if (textEmbeds.Rank != 2 || textEmbeds.Dim(0) != b || textEmbeds.Dim(1) + ids * d != p)
                throw new ArgumentException($"UNet text_embeds must be [{b}, {p - ids * d}] (projection_class_embeddings_input_dim {p} − {ids} time ids × {d}); got {Shape.Format(textEmbeds.ShapeSpan)}");
            using var sin = Sinusoid(ops, timeIds, d);
            using var joined = ops.Concat(1, textEmbeds, sin.Reshape(b, ids * d));
            using var aug = add.Apply(ops, joined);
            return ops.Add(emb, aug);
        }
    }

    /// <summary>diffusers Timesteps with the config's flip_sin_to_cos and freq_shift → [n, channels] in the
    /// activation dtype (computed in float32, then cast, as diffusers casts t_emb to the sample's dtype).</summary>
    Tensor Sinusoid(IOps ops, ReadOnlySpan<float> values, int channels)
    {
        var s = ops.TimestepEmbedding(values, channels, Config.FlipSinToCos, Config.FreqShift);
        if (s.DType == ops.ActivationType) return s;
        using (s) return ops.Cast(s, ops.ActivationType);
    }

    // ---- no token stages: a UNet's blocks work on feature maps of several sizes, not one token sequence ----

    const string NoStages = "SDXL's UNet runs whole (one rank, CFG parallel, data parallel); it has no token stages for sequence parallelism (Ulysses, Ring), PipeFusion or the block caches";

    public override bool HasTokenStages => false;
    /// <summary>The count of transformer blocks is no stage count here: 0, as nothing may be run block by block.</summary>
    public override int NumBlocks => 0;
    /// <summary>Heads of the widest block (the mid block's).</summary>
    public override int NumHeads => Config.NumAttentionHeads[^1];
    public override int HeadDim => Config.BlockOutChannels[^1] / Config.NumAttentionHeads[^1];
    public override int OutFeatures => Config.OutChannels;
    public override DitState Embed(IOps ops, DitInputs inputs) => throw new NotSupportedException(NoStages);
    public override void RunBlock(IOps ops, int index, DitState state, IAttention attention) => throw new NotSupportedException(NoStages);
    public override Tensor Finish(IOps ops, DitState state) => throw new NotSupportedException(NoStages);
    public override Tensor Unpatchify(IOps ops, Tensor tokens, DitState state) => throw new NotSupportedException(NoStages);

    public override void Dispose() => _weights.Dispose();
}
