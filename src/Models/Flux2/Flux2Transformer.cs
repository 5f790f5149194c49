using XDit.Kernels;
using XDit.Models.Flux;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.Flux2;

/// <summary>
/// diffusers Flux2Transformer2DModel (FLUX.2): packed latent tokens through x_embedder, text states through
/// context_embedder (both bias-free), timestep (+ guidance) conditioning turned once into the shared modulations
/// (<see cref="Flux2Conditioning"/>), double-stream then single-stream blocks (numbered double first), 4-axis
/// (t, h, w, l) RoPE from img_ids/txt_ids with rope_theta, and norm_out + proj_out over the image tokens. Reference
/// image tokens (editing) are appended to hidden_states with their own ids, as the pipeline does: the model runs them
/// as image tokens and returns every row; the pipeline keeps the first (noisy) ones. The output stays packed
/// [B, N, p²·C_out].
/// </summary>
public sealed class Flux2Transformer : DiffusionTransformer
{
    readonly ModelWeights _weights;
    readonly Linear _xEmbedder, _contextEmbedder, _projOut;
    readonly Flux2Conditioning _conditioning;
    readonly Flux2DoubleBlock[] _double;
    readonly Flux2SingleBlock[] _single;

    Flux2Transformer(Flux2Config config, ModelWeights weights)
    {
        Config = config;
        _weights = weights;
        var w = weights.Root;
        int d = config.InnerDim;
        _xEmbedder = w.Linear("x_embedder", config.InChannels, d, bias: false);
        _contextEmbedder = w.Linear("context_embedder", config.JointAttentionDim, d, bias: false);
        _conditioning = new Flux2Conditioning(w, config);
        var doubles = w.Pp("transformer_blocks");
        _double = Enumerable.Range(0, config.NumLayers).Select(i => new Flux2DoubleBlock(doubles.Pp(i), config)).ToArray();
        var singles = w.Pp("single_transformer_blocks");
        _single = Enumerable.Range(0, config.NumSingleLayers).Select(i => new Flux2SingleBlock(singles.Pp(i), config)).ToArray();
        _projOut = w.Linear("proj_out", d, config.OutFeatures, bias: false);
    }

    public Flux2Config Config { get; }

    /// <summary>Loads config.json and the diffusion_pytorch_model weights of a diffusers transformer folder.</summary>
    public static Flux2Transformer Load(string dir, IOps ops)
    {
        var config = Flux2Config.Load(Path.Combine(dir, "config.json"));
        using var source = Checkpoint.Open(dir);
        return Load(config, source, ops);
    }

    public static Flux2Transformer Load(Flux2Config config, ITensorSource source, IOps ops)
    {
        const string guidanceProbe = "time_guidance_embed.guidance_embedder.linear_1.weight";
        if (source.Contains(guidanceProbe) && !config.GuidanceEmbeds)
            throw new FormatException($"{source.Path}: holds '{guidanceProbe}' but the config has guidance_embeds false (guidance-distilled weights with another model's config?)");
        var w = new ModelWeights(source, ops);
        try { return w.Checked(new Flux2Transformer(config, w)); }
        catch { w.Dispose(); throw; }
    }

    public override int NumBlocks => _double.Length + _single.Length;
    public override int NumHeads => Config.NumAttentionHeads;
    public override int HeadDim => Config.AttentionHeadDim;
    public override int OutFeatures => Config.OutFeatures;
    public override long WeightBytes => _weights.Bytes;

    public override DitState Embed(IOps ops, DitInputs inputs)
    {
        var x = inputs.HiddenStates;
        if (x.Rank != 3 || x.Dim(2) != Config.InChannels)
            throw new ArgumentException($"Flux 2 hidden_states must be packed [B, N, {Config.InChannels}], got {Shape.Format(x.ShapeSpan)}");
        int b = x.Dim(0), n = x.Dim(1);
        var ctx = inputs.EncoderHiddenStates;
        if (ctx.Rank != 3 || ctx.Dim(0) != b || ctx.Dim(2) != Config.JointAttentionDim)
            throw new ArgumentException($"Flux 2 encoder_hidden_states must be [{b}, T, {Config.JointAttentionDim}], got {Shape.Format(ctx.ShapeSpan)}");
        int t = ctx.Dim(1);
        if (inputs.Timestep.Length != b)
            throw new ArgumentException($"Flux 2 needs one timestep per batch row ({b}), got {inputs.Timestep.Length}");
        // diffusers embeds the guidance only when it is given (and the model has the embedder); a guidance without the
        // embedder would be dropped there too, but a caller passing one expects it to act
        if (inputs.Guidance is { } g && (!_conditioning.HasGuidance || g.Length != b))
            throw new ArgumentException(_conditioning.HasGuidance
                ? $"Flux 2 needs one guidance value per batch row ({b}), got {g.Length}"
                : "this Flux 2 model has no guidance embedder (guidance_embeds false) but a guidance was given");
        var imgIds = inputs.ImgIds ?? throw new ArgumentException("Flux 2 needs img_ids (t, h, w, l) of the image tokens");
        var txtIds = inputs.TxtIds ?? throw new ArgumentException("Flux 2 needs txt_ids (t, h, w, l) of the text tokens");

        int axes = Config.AxesDimsRope.Length;
        var img = FluxRope.ReadIds(ops, imgIds, axes, "img_ids");
        var txt = FluxRope.ReadIds(ops, txtIds, axes, "txt_ids");
        if (img.Length != n * axes) throw new ArgumentException($"Flux 2 img_ids hold {img.Length / axes} positions but hidden_states has {n} tokens");
        if (txt.Length != t * axes) throw new ArgumentException($"Flux 2 txt_ids hold {txt.Length / axes} positions but encoder_hidden_states has {t} tokens");
        var (gh, gw) = FluxRope.Grid(img, n, axes);

        // diffusers casts timestep and guidance to the activation dtype and multiplies by 1000 there, as Flux 1 does
        var act = ops.ActivationType;
        var ts = inputs.Timestep.Select(v => FluxTransformer.Scale1000(act, v)).ToArray();
        var gs = inputs.Guidance?.Select(v => FluxTransformer.Scale1000(act, v)).ToArray() ?? [];

        using var made = new EmbedScope();
        var image = made.Add(_xEmbedder.Apply(ops, x));
        var text = made.Add(_contextEmbedder.Apply(ops, ctx));
        var cond = made.Add(_conditioning.Compute(ops, ts, gs));
        var (ic, isn) = FluxRope.Tables(img, n, Config.AxesDimsRope, Config.RopeTheta);
        var (tc, tsn) = FluxRope.Tables(txt, t, Config.AxesDimsRope, Config.RopeTheta);
        int d = Config.AttentionHeadDim;
        return made.HandTo(new DitState
        {
            Image = image, Text = text, Conditioning = cond, TotalTokens = n, GridH = gh, GridW = gw,
            ImageRopeCos = made.Add(ops.FromHost(ic, n, d)), ImageRopeSin = made.Add(ops.FromHost(isn, n, d)),
            TextRopeCos = made.Add(ops.FromHost(tc, t, d)), TextRopeSin = made.Add(ops.FromHost(tsn, t, d)),
        });
    }

    public override void RunBlock(IOps ops, int index, DitState state, IAttention attention)
    {
        if ((uint)index >= (uint)NumBlocks) throw new ArgumentOutOfRangeException(nameof(index), $"Flux 2 has {NumBlocks} blocks ({_double.Length} double, {_single.Length} single), asked for {index}");
        if (index < _double.Length) _double[index].Run(ops, state, attention);
        else _single[index - _double.Length].Run(ops, state, attention);
    }

    /// <summary>The first block's modulated image tokens (TeaCache's indicator).</summary>
    public override Tensor FirstBlockModulatedInput(IOps ops, DitState state)
        => _double.Length > 0 ? _double[0].ModulatedImage(ops, state) : _single[0].ModulatedImage(ops, state);

    public override Tensor Finish(IOps ops, DitState state)
    {
        using var m = Flux2Conditioning.NormOutParts(state.Conditioning, Config.InnerDim);
        using var n = AdaLayerNormZero.Modulated(ops, state.Image, m.Shift, m.Scale);
        return _projOut.Apply(ops, n);
    }

    /// <summary>The model output is the packed token tensor itself (reference rows included); the pipeline unpacks it.
    /// Returns a copy the caller owns.</summary>
    public override Tensor Unpatchify(IOps ops, Tensor tokens, DitState state)
    {
        if (tokens.Rank != 3 || tokens.Dim(1) != state.TotalTokens || tokens.Dim(2) != OutFeatures)
            throw new ArgumentException($"Flux 2 output tokens must be [B, {state.TotalTokens}, {OutFeatures}], got {Shape.Format(tokens.ShapeSpan)}");
        return ops.Contiguous(tokens);
    }

    public override void Dispose() => _weights.Dispose();
}
