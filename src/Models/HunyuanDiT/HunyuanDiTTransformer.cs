using XDit.Kernels;
using XDit.Models.Embeddings;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.HunyuanDiT;

/// <summary>
/// HunYuanDiT2DModel (HunyuanDiT v1.x) written against <see cref="IOps"/>: patch embedding (no position table: the
/// blocks use 2-D RoPE), the conditioning of <see cref="HunyuanDiTConditioning"/>, the text (BERT states and the
/// projected mT5 states concatenated, padded tokens replaced by a learned table), the blocks with their long skips
/// (the output of block i feeds block num_layers − 1 − i for i &lt; num_layers/2 − 1), AdaLayerNormContinuous,
/// proj_out and unpatchify ((p, q, c) feature order).
/// </summary>
public sealed class HunyuanDiTTransformer : IDisposable
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
    /// <summary>Bytes of the weights on the backend.</summary>
    public long WeightBytes => _weights.Bytes;

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

    /// <summary>One forward → [B, out_channels, H, W] (the noise prediction and, with learn_sigma, the variance
    /// channels after it). <paramref name="attention"/> runs the blocks' softmax attention (default: this rank alone).</summary>
    public Tensor Forward(IOps ops, HunyuanDiTInputs inputs, IAttention? attention = null)
    {
        attention ??= LocalAttention.Instance;
        var c = Config;
        var x = inputs.HiddenStates;
        if (x.Rank != 4 || x.Dim(1) != c.InChannels || x.Dim(2) % c.PatchSize != 0 || x.Dim(3) % c.PatchSize != 0)
            throw new ArgumentException($"HunyuanDiT hidden_states must be [B, {c.InChannels}, H, W] with H, W multiples of {c.PatchSize}; got {Shape.Format(x.ShapeSpan)}");
        int b = x.Dim(0), gh = x.Dim(2) / c.PatchSize, gw = x.Dim(3) / c.PatchSize;
        if (inputs.Timestep.Length != b)
            throw new ArgumentException($"HunyuanDiT needs one timestep per batch row: {inputs.Timestep.Length} for batch {b}");
        CheckShape("encoder_hidden_states", inputs.EncoderHiddenStates, b, c.TextLen, c.CrossAttentionDim);
        CheckShape("text_embedding_mask", inputs.TextEmbeddingMask, b, c.TextLen);
        CheckShape("encoder_hidden_states_t5", inputs.EncoderHiddenStatesT5, b, c.TextLenT5, c.CrossAttentionDimT5);
        CheckShape("text_embedding_mask_t5", inputs.TextEmbeddingMaskT5, b, c.TextLenT5);
        CheckShape("image_rotary_emb cos", inputs.RotaryCos, gh * gw, c.AttentionHeadDim);
        CheckShape("image_rotary_emb sin", inputs.RotarySin, gh * gw, c.AttentionHeadDim);

        using var cond = _conditioning.Apply(ops, inputs.Timestep, inputs.EncoderHiddenStatesT5, inputs.ImageMetaSize, inputs.Style);
        using var text = Text(ops, inputs, b);

        Tensor h;
        using (var patches = ops.Patchify(x, c.PatchSize, channelsFirst: true))
            h = _patchEmbed.Apply(ops, patches);
        // the outputs of the first half's blocks (but the last of them) are kept for the second half's skips;
        // hKept says whether h is one of them (then the stack owns it)
        var skips = new Stack<Tensor>();
        bool hKept = false;
        try
        {
            int half = c.NumLayers / 2;
            for (int i = 0; i < _blocks.Length; i++)
            {
                Tensor? skip = _blocks[i].TakesSkip ? skips.Pop() : null;
                Tensor next;
                try { next = _blocks[i].Run(ops, attention, h, skip, text, cond, inputs.RotaryCos, inputs.RotarySin); }
                finally { skip?.Dispose(); }
                if (!hKept) h.Dispose();
                h = next;
                hKept = i < half - 1;
                if (hKept) skips.Push(h);
            }
            using var normed = _normOut.Apply(ops, h, cond);
            using var proj = _projOut.Apply(ops, normed);
            return ops.Unpatchify(proj, c.PatchSize, c.OutChannels, gh, gw, channelsFirst: false);
        }
        finally
        {
            if (!hKept) h.Dispose();
            while (skips.Count > 0) skips.Pop().Dispose();
        }
    }

    /// <summary>cat[BERT, text_embedder(mT5)] with every padded token replaced by its row of
    /// text_embedding_padding: where(m, e, pad) = (e − pad)·m + pad for masks of 0 and 1.</summary>
    Tensor Text(IOps ops, HunyuanDiTInputs inputs, int b)
    {
        using var t5 = _textEmbedder.Apply(ops, inputs.EncoderHiddenStatesT5);
        using var all = ops.Concat(1, inputs.EncoderHiddenStates, t5);
        using var mask = ops.Concat(1, inputs.TextEmbeddingMask, inputs.TextEmbeddingMaskT5);
        using var negPad = ops.Scale(_textPadding, -1f);
        using var diff = ops.Add(all, negPad);
        using var kept = ops.Mul(diff, mask.Reshape(b, mask.Dim(1), 1));
        return ops.Add(kept, _textPadding);
    }

    static void CheckShape(string name, Tensor t, params int[] expected)
    {
        if (!Shape.Equal(t.ShapeSpan, expected))
            throw new ArgumentException($"HunyuanDiT {name} must be {Shape.Format(expected)}; got {Shape.Format(t.ShapeSpan)}");
    }

    public void Dispose() => _weights.Dispose();
}
