using XDit.Kernels;
using XDit.Models.Embeddings;
using XDit.Models.Layers;
using XDit.Models.PixArt;
using XDit.Runtime;

namespace XDit.Models.Sana;

/// <summary>
/// SanaTransformer2DModel (SANA 600M/1600M) written against <see cref="IOps"/> as the stages of
/// <see cref="DiffusionTransformer"/>. Like PixArt: a patch embedding (no position table unless
/// interpolation_scale is set), AdaLayerNormSingle's timestep conditioning, the caption projected and RMS-normed
/// (caption_norm), then blocks of ReLU linear self-attention, masked cross-attention and the GLUMBConv Mix-FFN, and
/// the modulated output norm. The caption, its key bias and the conditioning are replicated. SANA Sprint
/// (guidance_embeds) adds a guidance embedder to the timestep's (SanaCombinedTimestepGuidanceEmbeddings) and
/// RMS-normalises q and k across heads (qk_norm, <see cref="SanaQkNorm"/>).
/// </summary>
public sealed class SanaTransformer : DiffusionTransformer
{
    /// <summary>Bias added to the cross-attention scores of padded text keys (diffusers: (1 − mask)·−10000).</summary>
    /// <summary>caption_norm's eps (diffusers' RMSNorm(inner_dim, eps=1e-5)).</summary>
    public const float CaptionNormEps = 1e-5f;
    /// <summary>norm_out's eps (SanaModulatedNorm, 1e-6 whatever norm_eps says).</summary>
    public const float OutNormEps = 1e-6f;

    readonly ModelWeights _weights;
    readonly Linear _patchEmbed;          // conv weight [D, C, p, p] viewed as [D, C·p·p]
    readonly TextProjection _captionProjection;
    readonly Tensor _captionNorm;
    readonly TimestepEmbedding _timestep;
    readonly TimestepEmbedding? _guidance;  // guidance_embeds: time_embed.guidance_embedder
    readonly Linear _adaLinear;
    readonly SanaBlock[] _blocks;
    readonly Tensor _finalScaleShift;     // [2, D]: shift row, then scale row
    readonly Linear _projOut;
    readonly PositionTableCache _positionTables;   // used when interpolation_scale is set

    SanaTransformer(SanaConfig config, ModelWeights weights)
    {
        Config = config;
        _weights = weights;
        _positionTables = new PositionTableCache(config.InnerDim, config.BaseSize, config.InterpolationScale ?? 1.0);
        var w = weights.Root;
        var c = config;
        int d = c.InnerDim, p = c.PatchSize, ce = c.InChannels * p * p;

        var patch = w.Pp("patch_embed").Pp("proj");
        _patchEmbed = new Linear(patch.GetOperand("weight", d, c.InChannels, p, p).Reshape(d, ce), patch.GetOperand("bias", d));
        _captionProjection = TextProjection.Load(w.Pp("caption_projection"), c.CaptionChannels, d, Activation.GeluTanh);
        _captionNorm = w.Get("caption_norm.weight", d);

        // time_embed: AdaLayerNormSingle = PixArtAlphaCombinedTimestepSizeEmbeddings (timestep only), SiLU, 6·D linear;
        // with guidance_embeds SanaCombinedTimestepGuidanceEmbeddings: timestep_embedder + guidance_embedder, SiLU, linear
        var te = w.Pp("time_embed");
        _timestep = TimestepEmbedding.Load(c.GuidanceEmbeds ? te.Pp("timestep_embedder") : te.Pp("emb").Pp("timestep_embedder"), d);
        _guidance = c.GuidanceEmbeds ? TimestepEmbedding.Load(te.Pp("guidance_embedder"), d) : null;
        _adaLinear = te.Linear("linear", d, 6 * d);

        var blocks = w.Pp("transformer_blocks");
        _blocks = Enumerable.Range(0, c.NumLayers).Select(i => new SanaBlock(blocks.Pp(i), c)).ToArray();
        _finalScaleShift = w.Get("scale_shift_table", 2, d);
        _projOut = w.Linear("proj_out", d, p * p * c.OutChannels);
    }

    public SanaConfig Config { get; }
    public override int NumBlocks => Config.NumLayers;
    public override int NumHeads => Config.NumAttentionHeads;
    public override int HeadDim => Config.AttentionHeadDim;
    public override int OutFeatures => Config.PatchSize * Config.PatchSize * Config.OutChannels;
    /// <summary>Bytes of the weights on the backend.</summary>
    public override long WeightBytes => _weights.Bytes;

    /// <summary>Loads config.json and the weights of a diffusers transformer folder.</summary>
    public static SanaTransformer Load(string dir, IOps ops)
    {
        var config = SanaConfig.Load(Path.Combine(dir, "config.json"));
        using var source = Checkpoint.Open(dir);
        return Load(config, source, ops);
    }

    public static SanaTransformer Load(SanaConfig config, ITensorSource source, IOps ops)
    {
        var w = new ModelWeights(source, ops);
        try { return w.Checked(new SanaTransformer(config, w)); }
        catch { w.Dispose(); throw; }
    }

    // ---------------------------------------------------------------- stages

    public override DitState Embed(IOps ops, DitInputs inputs)
    {
        var c = Config;
        var x = inputs.HiddenStates;
        if (x.Rank != 4 || x.Dim(1) != c.InChannels || x.Dim(2) % c.PatchSize != 0 || x.Dim(3) % c.PatchSize != 0)
            throw new ArgumentException($"SANA hidden_states must be [B, {c.InChannels}, H, W] with H, W multiples of {c.PatchSize}; got {Shape.Format(x.ShapeSpan)}");
        int b = x.Dim(0), gh = x.Dim(2) / c.PatchSize, gw = x.Dim(3) / c.PatchSize;
        if (inputs.Timestep.Length != b)
            throw new ArgumentException($"SANA needs one timestep per batch row: {inputs.Timestep.Length} for batch {b}");
        if (_guidance is not null && inputs.Guidance?.Length != b)
            throw new ArgumentException($"this SANA model embeds guidance (guidance_embeds true, SANA Sprint) and needs one guidance value per batch row: {inputs.Guidance?.Length ?? 0} for batch {b}");
        if (_guidance is null && inputs.Guidance is not null)
            throw new ArgumentException("this SANA model has no guidance embedder (guidance_embeds false) but was given guidance values");
        var y = inputs.EncoderHiddenStates;
        if (y.Rank != 3 || y.Dim(0) != b || y.Dim(2) != c.CaptionChannels)
            throw new ArgumentException($"SANA encoder_hidden_states must be [{b}, T, {c.CaptionChannels}]; got {Shape.Format(y.ShapeSpan)}");

        using var made = new EmbedScope();
        // 1. patch tokens (+ the sin-cos table when interpolation_scale is set)
        Tensor image;
        using (var patches = ops.Patchify(x, c.PatchSize, channelsFirst: true))
        {
            var tokens = _patchEmbed.Apply(ops, patches);
            if (c.InterpolationScale is null) image = tokens;
            else
                using (tokens) image = ops.Add(tokens, _positionTables.Get(ops, gh, gw));
        }
        made.Add(image);

        // 2. timestep (+ guidance) → embedded_timestep [B, D] and the 6·D modulation
        var embedded = _timestep.Embed(ops, inputs.Timestep);
        if (_guidance is not null)
        {
            // diffusers adds the two embeddings: conditioning = timestep_emb + guidance_emb (both sinusoids in float32)
            using var t = embedded;
            using var g = _guidance.Embed(ops, inputs.Guidance!);
            embedded = ops.Add(t, g);
        }
        made.Add(embedded);
        Tensor temb6;
        using (var act = ops.Activate(embedded, Activation.Silu)) temb6 = _adaLinear.Apply(ops, act);
        made.Add(temb6);

        // 3. caption projection, then caption_norm
        Tensor text;
        using (var projected = _captionProjection.Apply(ops, y)) text = ops.RmsNorm(projected, _captionNorm, CaptionNormEps);
        made.Add(text);

        // 4. padded text keys → additive bias
        var keyBias = inputs.EncoderAttentionMask is { } mask ? made.Add(TextKeyBias.FromMask(ops, mask, b, y.Dim(1), "SANA")) : null;

        return made.HandTo(new DitState
        {
            Image = image,
            Text = text,
            TextKeyBias = keyBias,
            Conditioning = temb6,
            EmbeddedTimestep = embedded,
            TotalTokens = gh * gw,
            GridH = gh,
            GridW = gw,
        });
    }

    public override void RunBlock(IOps ops, int index, DitState state, IAttention attention)
    {
        if ((uint)index >= (uint)_blocks.Length) throw new ArgumentOutOfRangeException(nameof(index), $"SANA has {_blocks.Length} blocks, asked for {index}");
        _blocks[index].Run(ops, state, attention);
    }

    /// <summary>LN(x)·(1 + scale_msa) + shift_msa of block 0, as its self-attention sees it.</summary>
    public override Tensor FirstBlockModulatedInput(IOps ops, DitState state)
    {
        if (_blocks.Length == 0) throw new InvalidOperationException("SANA model has no blocks");
        return _blocks[0].ModulatedImage(ops, state);
    }

    public override Tensor Finish(IOps ops, DitState state)
    {
        var c = Config;
        var emb = state.EmbeddedTimestep ?? throw new InvalidOperationException("SANA Finish needs the embedded timestep in state.EmbeddedTimestep");
        // SanaModulatedNorm: (shift, scale) = scale_shift_table [2, D] + embedded_timestep, shift first
        using var shift = ops.Add(emb, _finalScaleShift.Slice(0, 0, 1).Reshape(c.InnerDim));
        using var scale = ops.Add(emb, _finalScaleShift.Slice(0, 1, 1).Reshape(c.InnerDim));
        using var m = ops.LayerNormModulate(state.Image, shift, scale, OutNormEps);
        return _projOut.Apply(ops, m);
    }

    public override Tensor Unpatchify(IOps ops, Tensor tokens, DitState state)
    {
        if (tokens.Rank != 3 || tokens.Dim(1) != state.GridH * state.GridW || tokens.Dim(2) != OutFeatures)
            throw new ArgumentException($"SANA unpatchify needs [B, {state.GridH * state.GridW}, {OutFeatures}] tokens; got {Shape.Format(tokens.ShapeSpan)}");
        // proj_out features are (a, b, c): reshape (B, h, w, p, p, C), permute (0, 5, 1, 3, 2, 4)
        return ops.Unpatchify(tokens, Config.PatchSize, Config.OutChannels, state.GridH, state.GridW, channelsFirst: false);
    }

    public override void Dispose()
    {
        _positionTables.Dispose();
        _weights.Dispose();
    }
}
