using XDit.Kernels;
using XDit.Models.Embeddings;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.PixArt;

/// <summary>
/// PixArtTransformer2DModel (PixArt-α and PixArt-Σ, models.md §2) written against <see cref="IOps"/> as the
/// stages of <see cref="DiffusionTransformer"/>. The image tokens are the only per-token state; the projected
/// caption, its key bias and the timestep conditioning are replicated, so a sequence-parallel executor can shard
/// <see cref="DitState.Image"/> right after <see cref="Embed"/>.
/// </summary>
public sealed class PixArtTransformer : DiffusionTransformer
{
    /// <summary>Bias added to the cross-attention scores of padded text keys (diffusers: (1 − mask)·−10000).</summary>

    readonly ModelWeights _weights;
    readonly Linear _patchEmbed;          // conv weight [D, C, p, p] viewed as [D, C·p·p]
    readonly TextProjection? _captionProjection;
    readonly TimestepEmbedding _timestep;
    readonly TimestepEmbedding? _resolution, _aspectRatio;
    readonly Linear _adaLinear;
    readonly PixArtBlock[] _blocks;
    readonly Tensor _finalScaleShift;     // [2, D]: shift row, then scale row
    readonly Linear _projOut;
    readonly PositionTableCache _positionTables;

    PixArtTransformer(PixArtConfig config, ModelWeights weights)
    {
        Config = config;
        _weights = weights;
        _positionTables = new PositionTableCache(config.InnerDim, config.BaseSize, config.InterpolationScale);
        var w = weights.Root;
        var c = config;
        int d = c.InnerDim, p = c.PatchSize, ce = c.InChannels * p * p;

        var posEmbed = w.Pp("pos_embed");
        var conv = posEmbed.GetOperand("proj.weight", d, c.InChannels, p, p);
        _patchEmbed = new Linear(conv.Reshape(d, ce), posEmbed.GetOperand("proj.bias", d));
        if (c.CaptionChannels is int cap)
            _captionProjection = TextProjection.Load(w.Pp("caption_projection"), cap, d, Activation.GeluTanh);

        // adaln_single: PixArtAlphaCombinedTimestepSizeEmbeddings, then SiLU and the 6·D linear
        var emb = w.Pp("adaln_single").Pp("emb");
        _timestep = TimestepEmbedding.Load(emb.Pp("timestep_embedder"), d);
        if (c.UseAdditionalConditions)
        {
            _resolution = TimestepEmbedding.Load(emb.Pp("resolution_embedder"), c.SizeEmbedDim);
            _aspectRatio = TimestepEmbedding.Load(emb.Pp("aspect_ratio_embedder"), c.SizeEmbedDim);
        }
        _adaLinear = w.Linear("adaln_single.linear", d, 6 * d);

        var blocks = w.Pp("transformer_blocks");
        _blocks = Enumerable.Range(0, c.NumLayers).Select(i => new PixArtBlock(blocks.Pp(i), c, i)).ToArray();
        _finalScaleShift = w.Get("scale_shift_table", 2, d);
        _projOut = w.Linear("proj_out", d, p * p * c.OutChannels);
    }

    public PixArtConfig Config { get; }
    public override int NumBlocks => Config.NumLayers;
    public override int NumHeads => Config.NumAttentionHeads;
    public override int HeadDim => Config.AttentionHeadDim;
    public override int OutFeatures => Config.PatchSize * Config.PatchSize * Config.OutChannels;
    public override bool OffersSelfAttentionModules => true;
    /// <summary>The projected caption is a cross-attention context the blocks only read.</summary>
    public override bool BlocksOnlyReadText => true;
    /// <summary>Bytes of the weights on the backend.</summary>
    public override long WeightBytes => _weights.Bytes;

    /// <summary>Loads config.json and the weights (one file, an fp16 variant, or shards with their index) of a
    /// diffusers transformer folder.</summary>
    public static PixArtTransformer Load(string dir, IOps ops)
    {
        var config = PixArtConfig.Load(Path.Combine(dir, "config.json"));
        using var source = Checkpoint.Open(dir);
        return Load(config, source, ops);
    }

    public static PixArtTransformer Load(PixArtConfig config, ITensorSource source, IOps ops)
    {
        var w = new ModelWeights(source, ops);
        try { return w.Checked(new PixArtTransformer(config, w)); }
        catch { w.Dispose(); throw; }
    }

    // ---------------------------------------------------------------- stages

    public override DitState Embed(IOps ops, DitInputs inputs)
    {
        var c = Config;
        var x = inputs.HiddenStates;
        if (x.Rank != 4 || x.Dim(1) != c.InChannels || x.Dim(2) % c.PatchSize != 0 || x.Dim(3) % c.PatchSize != 0)
            throw new ArgumentException($"PixArt hidden_states must be [B, {c.InChannels}, H, W] with H, W multiples of {c.PatchSize}; got {Shape.Format(x.ShapeSpan)}");
        int b = x.Dim(0), gh = x.Dim(2) / c.PatchSize, gw = x.Dim(3) / c.PatchSize, d = c.InnerDim;
        if (inputs.Timestep.Length != b)
            throw new ArgumentException($"PixArt needs one timestep per batch row: {inputs.Timestep.Length} for batch {b}");
        var y = inputs.EncoderHiddenStates;
        int captionWidth = c.CaptionChannels ?? c.CrossAttentionDim;
        if (y.Rank != 3 || y.Dim(0) != b || y.Dim(2) != captionWidth)
            throw new ArgumentException($"PixArt encoder_hidden_states must be [{b}, T, {captionWidth}]; got {Shape.Format(y.ShapeSpan)}");

        using var made = new EmbedScope();
        // 1. patch tokens + position table
        Tensor image;
        using (var patches = ops.Patchify(x, c.PatchSize, channelsFirst: true))
        using (var tokens = _patchEmbed.Apply(ops, patches))
            image = ops.Add(tokens, _positionTables.Get(ops, gh, gw));
        made.Add(image);

        // 2-3. timestep (+ micro-conditions) → embedded_timestep [B, D] and the 6·D modulation
        var embedded = EmbedTimestep(ops, inputs, b);
        made.Add(embedded);
        Tensor temb6;
        using (var act = ops.Activate(embedded, Activation.Silu)) temb6 = _adaLinear.Apply(ops, act);
        made.Add(temb6);

        // 4. caption projection
        var text = _captionProjection?.Apply(ops, y) ?? ops.Contiguous(y);
        made.Add(text);

        // 5. padded text keys → additive bias
        var keyBias = inputs.EncoderAttentionMask is { } mask ? made.Add(TextKeyBias.FromMask(ops, mask, b, y.Dim(1), "PixArt")) : null;

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

    /// <summary>embedded_timestep [B, D]: the timestep's embedding, plus (PixArt-α) the resolution and aspect-ratio
    /// micro-conditions' embeddings concatenated.</summary>
    Tensor EmbedTimestep(IOps ops, DitInputs inputs, int batch)
    {
        var emb = _timestep.Embed(ops, inputs.Timestep);
        if (_resolution is null || _aspectRatio is null) return emb;
        try
        {
            var res = inputs.Resolution ?? throw new ArgumentException("this PixArt model (use_additional_conditions) needs the resolution micro-condition [B, 2]");
            var ar = inputs.AspectRatio ?? throw new ArgumentException("this PixArt model (use_additional_conditions) needs the aspect_ratio micro-condition [B, 1]");
            if (res.NumElements != 2L * batch) throw new ArgumentException($"resolution must be [{batch}, 2]; got {Shape.Format(res.ShapeSpan)}");
            if (ar.NumElements != batch) throw new ArgumentException($"aspect_ratio must be [{batch}, 1]; got {Shape.Format(ar.ShapeSpan)}");
            int s = Config.SizeEmbedDim;
            // resolution.flatten() → [2B, s] → [B, 2s]: height embedding then width embedding per row
            using var r = _resolution.Embed(ops, ops.ToHost(res));
            using var a = _aspectRatio.Embed(ops, ops.ToHost(ar));
            using var cond = ops.Concat(1, r.Reshape(batch, 2 * s), a);
            return ops.Add(emb, cond);
        }
        finally { emb.Dispose(); }
    }

    public override void RunBlock(IOps ops, int index, DitState state, IAttention attention)
    {
        if ((uint)index >= (uint)_blocks.Length) throw new ArgumentOutOfRangeException(nameof(index), $"PixArt has {_blocks.Length} blocks, asked for {index}");
        _blocks[index].Run(ops, state, attention);
    }

    /// <summary>LN(x)·(1 + scale_msa) + shift_msa of block 0, as its self-attention sees it.</summary>
    public override Tensor FirstBlockModulatedInput(IOps ops, DitState state)
    {
        if (_blocks.Length == 0) throw new InvalidOperationException("PixArt model has no blocks");
        return _blocks[0].ModulatedImage(ops, state);
    }

    public override Tensor Finish(IOps ops, DitState state)
    {
        var c = Config;
        var emb = state.EmbeddedTimestep ?? throw new InvalidOperationException("PixArt Finish needs the embedded timestep in state.EmbeddedTimestep");
        // (shift, scale) = scale_shift_table [2, D] + embedded_timestep, shift first
        using var shift = ops.Add(emb, _finalScaleShift.Slice(0, 0, 1).Reshape(c.InnerDim));
        using var scale = ops.Add(emb, _finalScaleShift.Slice(0, 1, 1).Reshape(c.InnerDim));
        using var m = ops.LayerNormModulate(state.Image, shift, scale, 1e-6f);
        return _projOut.Apply(ops, m);
    }

    public override Tensor Unpatchify(IOps ops, Tensor tokens, DitState state)
    {
        if (tokens.Rank != 3 || tokens.Dim(1) != state.GridH * state.GridW || tokens.Dim(2) != OutFeatures)
            throw new ArgumentException($"PixArt unpatchify needs [B, {state.GridH * state.GridW}, {OutFeatures}] tokens; got {Shape.Format(tokens.ShapeSpan)}");
        return ops.Unpatchify(tokens, Config.PatchSize, Config.OutChannels, state.GridH, state.GridW, channelsFirst: false);
    }

    public override void Dispose()
    {
        _positionTables.Dispose();
        _weights.Dispose();
    }
}
