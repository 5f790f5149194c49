using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.T5;

/// <summary>
/// The encoder stack of transformers' T5EncoderModel (models.md §7.1): token embedding (no scaling), pre-norm
/// blocks of self-attention with a relative position bias computed from block 0's table and shared by all
/// blocks, unscaled scores, T5LayerNorm (RMS, no mean), gated-GELU or ReLU feed-forward, final norm.
/// Returns last_hidden_state. MT5EncoderModel is the same; UMT5EncoderModel (Wan's text encoder) differs only in
/// that every block reads its own relative_attention_bias table (<see cref="T5Config.PositionBiasPerLayer"/>).
/// </summary>
public sealed class T5Encoder : IDisposable
{
    /// <param name="BiasTable">relative_attention_bias [numBuckets, heads] in the activation dtype: the block's own
    /// (UMT5), or block 0's for every block (T5, mT5).</param>
    sealed record Block(Tensor AttnNorm, Linear Q, Linear K, Linear V, Linear O, Tensor FfNorm, Linear Wi0, Linear? Wi1, Linear Wo, Tensor BiasTable);

    readonly ModelWeights _weights;
    readonly Tensor _embedding;
    readonly Block[] _blocks;
    readonly Tensor _finalNorm;

    T5Encoder(T5Config config, ModelWeights weights)
    {
        Config = config;
        _weights = weights;
        var w = weights.Root;
        var encoder = w.Pp("encoder");
        var c = config;
        int d = c.DModel, inner = c.InnerDim;
        _embedding = w.Has("shared.weight") ? w.Get("shared.weight", c.VocabSize, d) : encoder.Get("embed_tokens.weight", c.VocabSize, d);

        _blocks = new Block[c.NumLayers];
        var blocks = encoder.Pp("block");
        // in the activation dtype, as the bias built from it enters the attention scores
        Tensor BiasTable(int block) => blocks.Pp(block).Pp("layer.0.SelfAttention")
            .GetOperand("relative_attention_bias.weight", c.RelativeAttentionNumBuckets, c.NumHeads);
        var shared = c.PositionBiasPerLayer ? null : BiasTable(0);
        for (int i = 0; i < c.NumLayers; i++)
        {
            WeightScope a = blocks.Pp(i).Pp("layer.0"), f = blocks.Pp(i).Pp("layer.1");
            var attn = a.Pp("SelfAttention");
            var ff = f.Pp("DenseReluDense");
            bool gated = c.IsGatedAct;
            _blocks[i] = new Block(
                a.Get("layer_norm.weight", d),
                attn.Linear("q", d, inner, bias: false),
                attn.Linear("k", d, inner, bias: false),
                attn.Linear("v", d, inner, bias: false),
                attn.Linear("o", inner, d, bias: false),
                f.Get("layer_norm.weight", d),
                ff.Linear(gated ? "wi_0" : "wi", d, c.DFf, bias: false),
                gated ? ff.Linear("wi_1", d, c.DFf, bias: false) : null,
                ff.Linear("wo", c.DFf, d, bias: false),
                shared ?? BiasTable(i));
        }
        _finalNorm = encoder.Get("final_layer_norm.weight", d);
    }

    public T5Config Config { get; }
    public long WeightBytes => _weights.Bytes;

    /// <summary>Loads config.json and model.safetensors (or its fp16 variant, or shards) of a transformers folder.</summary>
    public static T5Encoder Load(string dir, IOps ops)
    {
        var config = T5Config.Load(Path.Combine(dir, "config.json"));
        using var source = Checkpoint.Open(dir);
        return Load(config, source, ops);
    }

    public static T5Encoder Load(T5Config config, ITensorSource source, IOps ops)
    {
        var w = new ModelWeights(source, ops);
        try { return w.Checked(new T5Encoder(config, w)); }
        catch { w.Dispose(); throw; }
    }

    /// <summary>The additive bias on padded keys: transformers adds finfo(dtype).min; the same here in the
    /// activation dtype, so a fully padded row still gets a finite (uniform) softmax as in torch.</summary>
    public static float PaddedKeyBias(DType activation) => activation switch
    {
        DType.F16 => -65504f,
        DType.BF16 => -3.3895314e38f,
        _ => float.MinValue,
    };

    /// <summary>last_hidden_state [B, T, d_model] for token ids [B·T] (row-major) and an optional 0/1 mask.</summary>
    public Tensor Encode(IOps ops, long[] inputIds, long[]? attentionMask, int batch, int seqLen)
    {
        var c = Config;
        if (inputIds.Length != batch * seqLen)
            throw new ArgumentException($"T5 input_ids has {inputIds.Length} ids, expected batch {batch} × length {seqLen}");
        if (attentionMask is not null && attentionMask.Length != inputIds.Length)
            throw new ArgumentException($"T5 attention_mask has {attentionMask.Length} entries, expected {inputIds.Length}");
        foreach (var id in inputIds)
            if (id < 0 || id >= c.VocabSize) throw new ArgumentOutOfRangeException(nameof(inputIds), $"token id {id} is outside the vocabulary (size {c.VocabSize})");

        int d = c.DModel, heads = c.NumHeads, dkv = c.DKv;
        float eps = (float)c.LayerNormEpsilon;

        using var keyBias = MaskBias(ops, attentionMask, batch, seqLen);
        // the buckets once; the bias [1, heads, T, T] gathered from the table on the device, once per distinct table:
        // T5 once, UMT5 once per block (each freed after its block: a real-size one is heads·T² values)
        var buckets = T5RelativePosition.Buckets(c.RelativeAttentionNumBuckets, c.RelativeAttentionMaxDistance, seqLen);
        Tensor? posBias = null;
        Tensor? posBiasTable = null;

        Tensor h;
        using (var emb = ops.Embedding(_embedding, inputIds)) h = ops.Contiguous(emb.Reshape(batch, seqLen, d));
        try
        {
            foreach (var blk in _blocks)
            {
                if (!ReferenceEquals(blk.BiasTable, posBiasTable))
                {
                    posBias?.Dispose();
                    using (var rows = ops.Embedding(blk.BiasTable, buckets))   // [T·T, heads]
                        posBias = ops.Contiguous(rows.Reshape(seqLen, seqLen, heads).Permute(2, 0, 1)).TakeReshaped(1, heads, seqLen, seqLen);
                    posBiasTable = blk.BiasTable;
                }
                var options = new AttentionOptions { Scale = 1f, Bias = posBias, KeyBias = keyBias };
                Tensor next;
                using (var a = ops.RmsNorm(h, blk.AttnNorm, eps))
                using (var q = blk.Q.Apply(ops, a))
                using (var k = blk.K.Apply(ops, a))
                using (var v = blk.V.Apply(ops, a))
                using (var o = ops.Attention(q.Reshape(batch, seqLen, heads, dkv), k.Reshape(batch, seqLen, heads, dkv), v.Reshape(batch, seqLen, heads, dkv), options))
                using (var proj = blk.O.Apply(ops, o.Reshape(batch, seqLen, heads * dkv)))
                    next = ops.Add(h, proj);
                h.Dispose();
                h = next;

                using (var f = ops.RmsNorm(h, blk.FfNorm, eps))
                using (var g = FeedForward(ops, blk, f))
                using (var y = blk.Wo.Apply(ops, g))
                    next = ops.Add(h, y);
                h.Dispose();
                h = next;
            }
            return ops.RmsNorm(h, _finalNorm, eps);
        }
        finally
        {
            h.Dispose();
            posBias?.Dispose();
        }
    }

    Tensor FeedForward(IOps ops, Block blk, Tensor f)
    {
        var act = Config.DenseActivation;
        if (blk.Wi1 is not Linear wi1) return blk.Wi0.Apply(ops, f, act);
        using var gate = blk.Wi0.Apply(ops, f, act);
        using var lin = wi1.Apply(ops, f);
        return ops.Mul(gate, lin);
    }

    static Tensor? MaskBias(IOps ops, long[]? mask, int batch, int seqLen)
    {
        if (mask is null || Array.TrueForAll(mask, m => m != 0)) return null;
        float neg = PaddedKeyBias(ops.ActivationType);
        var bias = new float[mask.Length];
        for (int i = 0; i < mask.Length; i++) bias[i] = mask[i] != 0 ? 0f : neg;
        return ops.FromHost(bias, batch, seqLen);
    }

    public void Dispose() => _weights.Dispose();
}
