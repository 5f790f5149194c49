using XDit.Kernels;
using XDit.Models.Embeddings;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.SD3;

/// <summary>
/// diffusers SD3Transformer2DModel (MMDiT of SD3-medium, SD3.5-medium/large): conv patch embedding plus a crop of
/// the stored position table, timestep + pooled-text conditioning, joint blocks over separate image and text
/// streams, AdaLN-continuous output norm, and unpatchify to [B, C_out, H, W].
/// </summary>
public sealed class SD3Transformer : DiffusionTransformer
{
    readonly ModelWeights _weights;
    readonly Tensor _patchWeight, _patchBias, _posTable;
    readonly TimeTextEmbedding _timeText;
    readonly Linear _contextEmbedder;
    readonly SD3JointBlock[] _blocks;
    readonly AdaLayerNormContinuous _normOut;
    readonly Linear _projOut;

    SD3Transformer(SD3Config config, ModelWeights weights)
    {
        Config = config;
        _weights = weights;
        var w = weights.Root;
        int d = config.InnerDim, p = config.PatchSize, pmax = config.PosEmbedMaxSize;
        var posEmbed = w.Pp("pos_embed");
        var conv = posEmbed.GetOperand("proj.weight", d, config.InChannels, p, p);
        _patchWeight = conv.Reshape(d, config.InChannels * p * p);
        _patchBias = posEmbed.GetOperand("proj.bias", d);
        _posTable = posEmbed.Get("pos_embed", 1, pmax * pmax, d).Reshape(pmax, pmax, d);
        _timeText = TimeTextEmbedding.Load(w.Pp("time_text_embed"), d, config.PooledProjectionDim, guidance: false);
        _contextEmbedder = w.Linear("context_embedder", config.JointAttentionDim, config.CaptionProjectionDim);
        var blocks = w.Pp("transformer_blocks");
        _blocks = Enumerable.Range(0, config.NumLayers).Select(i => new SD3JointBlock(blocks.Pp(i), config, i)).ToArray();
        _normOut = AdaLayerNormContinuous.Load(w.Pp("norm_out"), d, d);
        _projOut = w.Linear("proj_out", d, p * p * config.OutChannels);
    }

    public SD3Config Config { get; }

    /// <summary>Loads config.json and the diffusion_pytorch_model weights of a diffusers transformer folder.</summary>
    public static SD3Transformer Load(string dir, IOps ops)
    {
        var config = SD3Config.Load(Path.Combine(dir, "config.json"));
        using var source = Checkpoint.Open(dir);
        return Load(config, source, ops);
    }

    public static SD3Transformer Load(SD3Config config, ITensorSource source, IOps ops)
    {
        CheckQkNormMatches(config, source);
        var w = new ModelWeights(source, ops);
        try { return w.Checked(new SD3Transformer(config, w)); }
        catch { w.Dispose(); throw; }
    }

    /// <summary>A checkpoint with qk-norm weights under a config without qk_norm (or the reverse) would load and
    /// silently compute something else; say so instead.</summary>
    static void CheckQkNormMatches(SD3Config config, ITensorSource source)
    {
        const string probe = "transformer_blocks.0.attn.norm_q.weight";
        bool has = source.Contains(probe);
        if (has && !config.HasQkNorm)
            throw new FormatException($"{source.Path}: holds '{probe}' but the config has qk_norm null (SD3.5 weights with an SD3 config?)");
        if (!has && config.HasQkNorm)
            throw new MissingTensorException(source.Path, probe);
    }

    public override int NumBlocks => _blocks.Length;
    public override int NumHeads => Config.NumAttentionHeads;
    public override int HeadDim => Config.AttentionHeadDim;
    public override int OutFeatures => Config.PatchSize * Config.PatchSize * Config.OutChannels;
    public override long WeightBytes => _weights.Bytes;

    public override DitState Embed(IOps ops, DitInputs inputs)
    {
        var x = inputs.HiddenStates;
        int p = Config.PatchSize, pmax = Config.PosEmbedMaxSize;
        if (x.Rank != 4 || x.Dim(1) != Config.InChannels)
            throw new ArgumentException($"SD3 hidden_states must be [B, {Config.InChannels}, H, W], got {Shape.Format(x.ShapeSpan)}");
        if (x.Dim(2) % p != 0 || x.Dim(3) % p != 0)
            throw new ArgumentException($"SD3 latent size {x.Dim(2)}×{x.Dim(3)} is not a multiple of patch_size {p}");
        int gh = x.Dim(2) / p, gw = x.Dim(3) / p, b = x.Dim(0);
        if (gh > pmax || gw > pmax)
            throw new ArgumentException($"SD3 patch grid {gh}×{gw} exceeds pos_embed_max_size {pmax}");
        var pooled = inputs.PooledProjections ?? throw new ArgumentException("SD3 needs pooled_projections");
        var ctx = inputs.EncoderHiddenStates;
        if (ctx.Rank != 3 || ctx.Dim(0) != b || ctx.Dim(2) != Config.JointAttentionDim)
            throw new ArgumentException($"SD3 encoder_hidden_states must be [{b}, T, {Config.JointAttentionDim}], got {Shape.Format(ctx.ShapeSpan)}");
        if (pooled.Rank != 2 || pooled.Dim(0) != b || pooled.Dim(1) != Config.PooledProjectionDim)
            throw new ArgumentException($"SD3 pooled_projections must be [{b}, {Config.PooledProjectionDim}], got {Shape.Format(pooled.ShapeSpan)}");
        if (inputs.Timestep.Length != b)
            throw new ArgumentException($"SD3 needs one timestep per batch row ({b}), got {inputs.Timestep.Length}");

        Tensor? image = null, cond = null, text = null;
        try
        {
            using (var patches = ops.Patchify(x, p, channelsFirst: true))
            using (var tokens = ops.Linear(patches, _patchWeight, _patchBias))
            using (var pos = PositionCrop(ops, gh, gw))
                image = ops.Add(tokens, pos.Reshape(gh * gw, Config.InnerDim));
            // every consumer of the conditioning (each block's adaptive norms, norm_out) takes SiLU of it: once here
            using (var temb = _timeText.Apply(ops, inputs.Timestep, default, pooled))
                cond = ops.Activate(temb, Activation.Silu);
            text = _contextEmbedder.Apply(ops, ctx);
        }
        catch
        {
            image?.Dispose(); cond?.Dispose(); text?.Dispose();
            throw;
        }
        var state = new DitState { Image = image, Text = text, Conditioning = cond, TotalTokens = gh * gw, GridH = gh, GridW = gw };
        state.Own(image); state.Own(text); state.Own(cond);
        return state;
    }

    /// <summary>The stored [P, P, D] position table cropped to the centred gh×gw window → [gh, gw, D]
    /// (top = (P − gh) / 2, left = (P − gw) / 2, as diffusers' PatchEmbed.cropped_pos_embed).</summary>
    public Tensor PositionCrop(IOps ops, int gh, int gw)
    {
        int pmax = Config.PosEmbedMaxSize;
        if (gh > pmax || gw > pmax) throw new ArgumentException($"SD3 patch grid {gh}×{gw} exceeds pos_embed_max_size {pmax}");
        int top = (pmax - gh) / 2, left = (pmax - gw) / 2;
        return ops.Contiguous(_posTable.Slice(0, top, gh).Slice(1, left, gw));
    }

    public override void RunBlock(IOps ops, int index, DitState state, IAttention attention)
    {
        if ((uint)index >= (uint)_blocks.Length) throw new ArgumentOutOfRangeException(nameof(index), $"SD3 has {_blocks.Length} blocks, asked for {index}");
        _blocks[index].Run(ops, state, attention);
    }

    /// <summary>Block 0's norm1 on the image tokens (TeaCache's indicator).</summary>
    public override Tensor FirstBlockModulatedInput(IOps ops, DitState state) => _blocks[0].ModulatedImage(ops, state);

    public override Tensor Finish(IOps ops, DitState state)
    {
        using var n = _normOut.ApplyActivated(ops, state.Image, state.Conditioning);   // Conditioning is SiLU(temb)
        return _projOut.Apply(ops, n);
    }

    public override Tensor Unpatchify(IOps ops, Tensor tokens, DitState state)
    {
        if (tokens.Rank != 3 || tokens.Dim(1) != state.GridH * state.GridW || tokens.Dim(2) != OutFeatures)
            throw new ArgumentException($"SD3 unpatchify needs [B, {state.GridH * state.GridW}, {OutFeatures}], got {Shape.Format(tokens.ShapeSpan)}");
        return ops.Unpatchify(tokens, Config.PatchSize, Config.OutChannels, state.GridH, state.GridW, channelsFirst: false);
    }

    public override void Dispose() => _weights.Dispose();
}
