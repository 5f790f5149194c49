using XDit.Kernels;
using XDit.Models.Embeddings;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.HunyuanDiT;

/// <summary>
/// HunYuanDiT2DModel (HunyuanDiT v1.x) written against <see cref="IOps"/> as the stages of
/// <see cref="DiffusionTransformer"/>: patch embedding (no position table: the blocks use 2-D RoPE, whose rows sit in
/// <see cref="DitState.ImageRopeCos"/>/<see cref="DitState.ImageRopeSin"/> and follow the tokens a rank holds), the
/// conditioning of <see cref="HunyuanDiTConditioning"/> (kept as SiLU of it: every block's norm1 and norm_out take
/// that), the text (BERT states and the projected mT5 states concatenated, padded tokens replaced by a learned table)
/// as a cross-attention context the blocks only read, the blocks with their long skips (the output of block i is kept
/// in <see cref="DitState.Skips"/> for block num_layers − 1 − i, i &lt; num_layers/2 − 1), AdaLayerNormContinuous,
/// proj_out and unpatchify ((p, q, c) feature order).
/// </summary>
public sealed class HunyuanDiTTransformer : DiffusionTransformer
{
    readonly ModelWeights _weights;
    readonly Linear _patchEmbed;          // conv weight [D, C, p, p] viewed as [D, C·p·p]
    readonly TextProjection _textEmbedder;
    readonly Tensor _textPadding;         // [text_len + text_len_t5, cross_attention_dim]
    readonly HunyuanDiTConditioning _conditioning;
    readonly HunyuanDiTBlock[] _blocks;
    readonly AdaLayerNormContinuous _normOut;
    readonly Linear _projOut;

    HunyuanDiTTransformer(HunyuanDiTConfig config, ModelWeights weights)
    {
        Config = config;
        _weights = weights;
        var w = weights.Root;
        var c = config;
        int d = c.InnerDim, p = c.PatchSize, ce = c.InChannels * p * p;

        var posEmbed = w.Pp("pos_embed");
        var conv = posEmbed.GetOperand("proj.weight", d, c.InChannels, p, p);
        _patchEmbed = new Linear(conv.Reshape(d, ce), posEmbed.GetOperand("proj.bias", d));
        _textEmbedder = TextProjection.Load(w.Pp("text_embedder"), c.CrossAttentionDimT5, 4 * c.CrossAttentionDimT5, Activation.Silu, c.CrossAttentionDim);
        _textPadding = w.GetOperand("text_embedding_padding", c.TextLen + c.TextLenT5, c.CrossAttentionDim);
        var extra = w.Pp("time_extra_emb");
        if (!c.UseStyleCondAndImageMetaSize && extra.Has("style_embedder.weight"))
            throw new FormatException($"{extra}: has style_embedder but config use_style_cond_and_image_meta_size is false");
        _conditioning = HunyuanDiTConditioning.Load(extra, c);

        var blocks = w.Pp("blocks");
        _blocks = Enumerable.Range(0, c.NumLayers).Select(i => new HunyuanDiTBlock(blocks.Pp(i), c, takesSkip: i > c.NumLayers / 2)).ToArray();
        _normOut = AdaLayerNormContinuous.Load(w.Pp("norm_out"), d, d);
        _projOut = w.Linear("proj_out", d, p * p * c.OutChannels);
    }

    public HunyuanDiTConfig Config { get; }
    public override int NumBlocks => Config.NumLayers;
    public override int NumHeads => Config.NumAttentionHeads;
    public override int HeadDim => Config.AttentionHeadDim;
    public override int OutFeatures => Config.PatchSize * Config.PatchSize * Config.OutChannels;
    /// <summary>The text is a cross-attention context the blocks only read.</summary>
    public override bool BlocksOnlyReadText => true;
    /// <summary>Bytes of the weights on the backend.</summary>
    public override long WeightBytes => _weights.Bytes;

    /// <summary>Loads config.json and the weights of a diffusers transformer folder.</summary>
    public static HunyuanDiTTransformer Load(string dir, IOps ops)
    {
        var config = HunyuanDiTConfig.Load(Path.Combine(dir, "config.json"));
        using var source = Checkpoint.Open(dir);
        return Load(config, source, ops);
    }

    public static HunyuanDiTTransformer Load(HunyuanDiTConfig config, ITensorSource source, IOps ops)
    {
        var w = new ModelWeights(source, ops);
        try { return w.Checked(new HunyuanDiTTransformer(config, w)); }
        catch { w.Dispose(); throw; }
    }

    // ---------------------------------------------------------------- long skips

    int Half => Config.NumLayers / 2;
    /// <summary>Whether block <paramref name="i"/>'s output is kept for a later block (diffusers: layer &lt; num_layers/2 − 1).</summary>
    bool KeepsOutput(int i) => i < Half - 1;

    /// <summary>(i, num_layers − 1 − i) for i &lt; num_layers/2 − 1.</summary>
    public override IReadOnlyList<(int From, int To)> LongSkips => _longSkips ??= Enumerable.Range(0, Half - 1).Select(i => (i, NumBlocks - 1 - i)).ToArray();
    (int From, int To)[]? _longSkips;

    // ---------------------------------------------------------------- stages

    public override DitState Embed(IOps ops, DitInputs inputs)
    {
        var c = Config;
        var x = inputs.HiddenStates;
        if (x.Rank != 4 || x.Dim(1) != c.InChannels || x.Dim(2) % c.PatchSize != 0 || x.Dim(3) % c.PatchSize != 0)
            throw new ArgumentException($"HunyuanDiT hidden_states must be [B, {c.InChannels}, H, W] with H, W multiples of {c.PatchSize}; got {Shape.Format(x.ShapeSpan)}");
        int b = x.Dim(0), gh = x.Dim(2) / c.PatchSize, gw = x.Dim(3) / c.PatchSize;
        if (inputs.Timestep.Length != b)
            throw new ArgumentException($"HunyuanDiT needs one timestep per batch row: {inputs.Timestep.Length} for batch {b}");
        var mask = Require(inputs.EncoderAttentionMask, "text_embedding_mask (DitInputs.EncoderAttentionMask)", b, c.TextLen);
        var t5 = Require(inputs.EncoderHiddenStatesT5, "encoder_hidden_states_t5", b, c.TextLenT5, c.CrossAttentionDimT5);
        var maskT5 = Require(inputs.EncoderAttentionMaskT5, "text_embedding_mask_t5 (DitInputs.EncoderAttentionMaskT5)", b, c.TextLenT5);
        CheckShape("encoder_hidden_states", inputs.EncoderHiddenStates, b, c.TextLen, c.CrossAttentionDim);
        var cos = Require(inputs.ImageRotaryCos, "image_rotary_emb cos (DitInputs.ImageRotaryCos)", gh * gw, c.AttentionHeadDim);
        var sin = Require(inputs.ImageRotarySin, "image_rotary_emb sin (DitInputs.ImageRotarySin)", gh * gw, c.AttentionHeadDim);
        float[]? meta = null;
        if (inputs.ImageMetaSize is { } m)
        {
            CheckShape("image_meta_size", m, b, HunyuanDiTConfig.ImageMetaValues);
            meta = ops.ToHost(m);
        }

        using var made = new EmbedScope();
        Tensor image;
        using (var patches = ops.Patchify(x, c.PatchSize, channelsFirst: true))
            image = made.Add(_patchEmbed.Apply(ops, patches));
        Tensor cond;
        using (var temb = _conditioning.Apply(ops, inputs.Timestep, t5, meta, inputs.Style))
            cond = made.Add(ops.Activate(temb, Activation.Silu));
        var text = made.Add(Text(ops, inputs.EncoderHiddenStates, mask, t5, maskT5, b));
        return made.HandTo(new DitState
        {
            Image = image, Text = text, Conditioning = cond,
            // the tables are the caller's; the state's own copies follow its tokens when it is sharded
            ImageRopeCos = made.Add(ops.Contiguous(cos)), ImageRopeSin = made.Add(ops.Contiguous(sin)),
            TotalTokens = gh * gw, GridH = gh, GridW = gw,
        });
    }

    /// <summary>Runs block <paramref name="index"/>: the second half's blocks first take the newest kept skip; the
    /// first half's (but the last of them) keep their output.</summary>
    public override void RunBlock(IOps ops, int index, DitState state, IAttention attention)
    {
        if ((uint)index >= (uint)_blocks.Length) throw new ArgumentOutOfRangeException(nameof(index), $"HunyuanDiT has {_blocks.Length} blocks, asked for {index}");
        var text = state.Text ?? throw new InvalidOperationException("HunyuanDiT blocks need the text states in state.Text");
        if (state.ImageRopeCos is not { } cos || state.ImageRopeSin is not { } sin)
            throw new InvalidOperationException("HunyuanDiT blocks need the rotary tables of the held tokens in state.ImageRopeCos/Sin");
        var block = _blocks[index];
        Tensor? skip = block.TakesSkip ? state.PopSkip() : null;
        try
        {
            state.ReplaceImage(block.Run(ops, attention, state.Image, skip, text, state.Conditioning, cos, sin));
        }
        finally
        {
            if (skip is not null) state.Drop(skip);
        }
        if (KeepsOutput(index)) state.PushSkip(state.Image);
    }

    /// <summary>A cached residual stood in for the block: drop the skip it would have joined, keep the approximate
    /// output where its own output would have been kept.</summary>
    public override void BlockStoodIn(IOps ops, int index, DitState state)
    {
        if ((uint)index >= (uint)_blocks.Length) throw new ArgumentOutOfRangeException(nameof(index), $"HunyuanDiT has {_blocks.Length} blocks, asked for {index}");
        if (_blocks[index].TakesSkip) state.Drop(state.PopSkip());
        if (KeepsOutput(index)) state.PushSkip(state.Image);
    }

    /// <summary>Block 0's norm1 on the image tokens, LN(x) + shift (HunyuanDiT's adaptive norm shifts only).</summary>
    public override Tensor FirstBlockModulatedInput(IOps ops, DitState state) => _blocks[0].ModulatedImage(ops, state.Image, state.Conditioning);

    public override Tensor Finish(IOps ops, DitState state)
    {
        using var n = _normOut.ApplyActivated(ops, state.Image, state.Conditioning);   // Conditioning is SiLU(c)
        return _projOut.Apply(ops, n);
    }

    public override Tensor Unpatchify(IOps ops, Tensor tokens, DitState state)
    {
        if (tokens.Rank != 3 || tokens.Dim(1) != state.GridH * state.GridW || tokens.Dim(2) != OutFeatures)
            throw new ArgumentException($"HunyuanDiT unpatchify needs [B, {state.GridH * state.GridW}, {OutFeatures}] tokens; got {Shape.Format(tokens.ShapeSpan)}");
        return ops.Unpatchify(tokens, Config.PatchSize, Config.OutChannels, state.GridH, state.GridW, channelsFirst: false);
    }

    /// <summary>cat[BERT, text_embedder(mT5)] with every padded token replaced by its row of
    /// text_embedding_padding: where(m, e, pad) = (e − pad)·m + pad for masks of 0 and 1.</summary>
    Tensor Text(IOps ops, Tensor bert, Tensor bertMask, Tensor t5States, Tensor t5Mask, int b)
    {
        using var t5 = _textEmbedder.Apply(ops, t5States);
        using var all = ops.Concat(1, bert, t5);
        using var mask = ops.Concat(1, bertMask, t5Mask);
        using var negPad = ops.Scale(_textPadding, -1f);
        using var diff = ops.Add(all, negPad);
        using var kept = ops.Mul(diff, mask.Reshape(b, mask.Dim(1), 1));
        return ops.Add(kept, _textPadding);
    }

    static Tensor Require(Tensor? t, string name, params int[] expected)
    {
        if (t is null) throw new ArgumentException($"HunyuanDiT needs {name} {Shape.Format(expected)}; got none");
        CheckShape(name, t, expected);
        return t;
    }

    static void CheckShape(string name, Tensor t, params int[] expected)
    {
        if (!Shape.Equal(t.ShapeSpan, expected))
            throw new ArgumentException($"HunyuanDiT {name} must be {Shape.Format(expected)}; got {Shape.Format(t.ShapeSpan)}");
    }

    public override void Dispose()
    {
        foreach (var b in _blocks) b.Dispose();   // the tensors they derived from the weights at load
        _weights.Dispose();
    }
}
