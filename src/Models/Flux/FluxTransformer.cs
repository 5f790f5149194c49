using XDit.Kernels;
using XDit.Models.Embeddings;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.Flux;

/// <summary>
/// diffusers FluxTransformer2DModel (FLUX.1): packed latent tokens through x_embedder, timestep (+ guidance) +
/// pooled-text conditioning, double-stream blocks then single-stream blocks (blocks are numbered double first),
/// 3-axis RoPE from img_ids/txt_ids, AdaLN-continuous output norm. The output stays packed [B, N, p²·C_out].
/// </summary>
public sealed class FluxTransformer : DiffusionTransformer
{
    readonly ModelWeights _weights;
    readonly Linear _xEmbedder, _contextEmbedder, _projOut;
    readonly TimeTextEmbedding _timeText;
    readonly FluxDoubleBlock[] _double;
    readonly FluxSingleBlock[] _single;
    readonly AdaLayerNormContinuous _normOut;

    FluxTransformer(FluxConfig config, ModelWeights weights)
    {
        Config = config;
        _weights = weights;
        var w = weights.Root;
        int d = config.InnerDim;
        _xEmbedder = w.Linear("x_embedder", config.InChannels, d);
        _contextEmbedder = w.Linear("context_embedder", config.JointAttentionDim, d);
        _timeText = TimeTextEmbedding.Load(w.Pp("time_text_embed"), d, config.PooledProjectionDim, config.GuidanceEmbeds);
        var shape = new FluxBlockShape(config.NumAttentionHeads, config.AttentionHeadDim, config.MlpDim);
        var doubles = w.Pp("transformer_blocks");
        _double = Enumerable.Range(0, config.NumLayers).Select(i => new FluxDoubleBlock(doubles.Pp(i), shape, FluxAttention.RunPacked)).ToArray();
        var singles = w.Pp("single_transformer_blocks");
        _single = Enumerable.Range(0, config.NumSingleLayers).Select(i => new FluxSingleBlock(singles.Pp(i), shape, FluxAttention.RunPacked)).ToArray();
        _normOut = AdaLayerNormContinuous.Load(w.Pp("norm_out"), d, d);
        _projOut = w.Linear("proj_out", d, config.PatchSize * config.PatchSize * config.OutChannels);
    }

    public FluxConfig Config { get; }

    /// <summary>Loads config.json and the diffusion_pytorch_model weights of a diffusers transformer folder.</summary>
    public static FluxTransformer Load(string dir, IOps ops)
    {
        var config = FluxConfig.Load(Path.Combine(dir, "config.json"));
        using var source = Checkpoint.Open(dir);
        return Load(config, source, ops);
    }

    public static FluxTransformer Load(FluxConfig config, ITensorSource source, IOps ops)
    {
        const string guidanceProbe = "time_text_embed.guidance_embedder.linear_1.weight";
        if (source.Contains(guidanceProbe) && !config.GuidanceEmbeds)
            throw new FormatException($"{source.Path}: holds '{guidanceProbe}' but the config has guidance_embeds false (FLUX.1-dev weights with a schnell config?)");
        var w = new ModelWeights(source, ops);
        try { return w.Checked(new FluxTransformer(config, w)); }
        catch { w.Dispose(); throw; }
    }

    public override int NumBlocks => _double.Length + _single.Length;
    public override int NumHeads => Config.NumAttentionHeads;
    public override int HeadDim => Config.AttentionHeadDim;
    public override int OutFeatures => Config.PatchSize * Config.PatchSize * Config.OutChannels;
    public override long WeightBytes => _weights.Bytes;

    public override DitState Embed(IOps ops, DitInputs inputs)
    {
        var x = inputs.HiddenStates;
        if (x.Rank != 3 || x.Dim(2) != Config.InChannels)
            throw new ArgumentException($"Flux hidden_states must be packed [B, N, {Config.InChannels}], got {Shape.Format(x.ShapeSpan)}");
        int b = x.Dim(0), n = x.Dim(1);
        var ctx = inputs.EncoderHiddenStates;
        if (ctx.Rank != 3 || ctx.Dim(0) != b || ctx.Dim(2) != Config.JointAttentionDim)
            throw new ArgumentException($"Flux encoder_hidden_states must be [{b}, T, {Config.JointAttentionDim}], got {Shape.Format(ctx.ShapeSpan)}");
        int t = ctx.Dim(1);
        var pooled = inputs.PooledProjections ?? throw new ArgumentException("Flux needs pooled_projections");
        if (pooled.Rank != 2 || pooled.Dim(0) != b || pooled.Dim(1) != Config.PooledProjectionDim)
            throw new ArgumentException($"Flux pooled_projections must be [{b}, {Config.PooledProjectionDim}], got {Shape.Format(pooled.ShapeSpan)}");
        if (inputs.Timestep.Length != b)
            throw new ArgumentException($"Flux needs one timestep per batch row ({b}), got {inputs.Timestep.Length}");
        if (Config.GuidanceEmbeds && inputs.Guidance is null)
            throw new ArgumentException("this Flux model has a guidance embedder (guidance_embeds true) and needs a guidance value per batch row");
        var imgIds = inputs.ImgIds ?? throw new ArgumentException("Flux needs img_ids");
        var txtIds = inputs.TxtIds ?? throw new ArgumentException("Flux needs txt_ids");

        int axes = Config.AxesDimsRope.Length;
        var img = FluxRope.ReadIds(ops, imgIds, axes, "img_ids");
        var txt = FluxRope.ReadIds(ops, txtIds, axes, "txt_ids");
        if (img.Length != n * axes) throw new ArgumentException($"Flux img_ids hold {img.Length / axes} positions but hidden_states has {n} tokens");
        if (txt.Length != t * axes) throw new ArgumentException($"Flux txt_ids hold {txt.Length / axes} positions but encoder_hidden_states has {t} tokens");
        var (gh, gw) = FluxRope.Grid(img, n, axes);

        // diffusers casts timestep and guidance to the activation dtype and multiplies by 1000 there.
        var act = ops.ActivationType;
        var ts = inputs.Timestep.Select(v => Scale1000(act, v)).ToArray();
        var gs = Config.GuidanceEmbeds ? inputs.Guidance!.Select(v => Scale1000(act, v)).ToArray() : [];

        using var made = new EmbedScope();
        var image = made.Add(_xEmbedder.Apply(ops, x));
        var text = made.Add(_contextEmbedder.Apply(ops, ctx));
        // every consumer of the conditioning (the blocks' adaptive norms, norm_out) takes SiLU of it: once here
        Tensor cond;
        using (var temb = _timeText.Apply(ops, ts, gs, pooled)) cond = made.Add(ops.Activate(temb, Activation.Silu));
        var (ic, isn) = FluxRope.Tables(img, n, Config.AxesDimsRope);
        var (tc, tsn) = FluxRope.Tables(txt, t, Config.AxesDimsRope);
        int d = Config.AttentionHeadDim;
        return made.HandTo(new DitState
        {
            Image = image, Text = text, Conditioning = cond, TotalTokens = n, GridH = gh, GridW = gw,
            ImageRopeCos = made.Add(ops.FromHost(ic, n, d)), ImageRopeSin = made.Add(ops.FromHost(isn, n, d)),
            TextRopeCos = made.Add(ops.FromHost(tc, t, d)), TextRopeSin = made.Add(ops.FromHost(tsn, t, d)),
        });
    }

    /// <summary>v·1000 as diffusers computes it: v cast to the activation dtype, the product rounded there.</summary>
    internal static float Scale1000(DType act, float v) => TimestepEmbedding.RoundTo(act, TimestepEmbedding.RoundTo(act, v) * 1000f);

    public override void RunBlock(IOps ops, int index, DitState state, IAttention attention)
    {
        if ((uint)index >= (uint)NumBlocks) throw new ArgumentOutOfRangeException(nameof(index), $"Flux has {NumBlocks} blocks ({_double.Length} double, {_single.Length} single), asked for {index}");
        if (index < _double.Length) _double[index].Run(ops, state, attention);
        else _single[index - _double.Length].Run(ops, state, attention);
    }

    /// <summary>Double block 0's norm1 on the image tokens (TeaCache's indicator).</summary>
    public override Tensor FirstBlockModulatedInput(IOps ops, DitState state) => _double[0].ModulatedImage(ops, state);

    public override Tensor Finish(IOps ops, DitState state)
    {
        using var n = _normOut.ApplyActivated(ops, state.Image, state.Conditioning);   // Conditioning is SiLU(temb)
        return _projOut.Apply(ops, n);
    }

    /// <summary>Flux's model output is the packed token tensor itself; the pipeline unpacks it. Returns a copy the
    /// caller owns.</summary>
    public override Tensor Unpatchify(IOps ops, Tensor tokens, DitState state)
    {
        if (tokens.Rank != 3 || tokens.Dim(1) != state.TotalTokens || tokens.Dim(2) != OutFeatures)
            throw new ArgumentException($"Flux output tokens must be [B, {state.TotalTokens}, {OutFeatures}], got {Shape.Format(tokens.ShapeSpan)}");
        return ops.Contiguous(tokens);
    }

    public override void Dispose() => _weights.Dispose();
}
