using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Bert;

/// <summary>
/// transformers' BertModel as a text encoder (HunyuanDiT's Chinese CLIP-style BERT): word + token-type + absolute
/// position embeddings, LayerNorm, post-norm encoder layers with a padding mask on keys. Returns last_hidden_state
/// (the pooler is not run: pipelines use the hidden states). Weights by their transformers names, at the root or
/// under <c>bert.</c> (as a BertFor… checkpoint stores them).
/// </summary>
public sealed class BertModel : IDisposable
{
    readonly ModelWeights _weights;
    readonly Tensor _wordEmbeddings, _positionEmbeddings, _tokenTypeEmbeddings, _embLnW, _embLnB;
    readonly BertLayer[] _layers;

    BertModel(BertConfig config, ModelWeights weights)
    {
        Config = config;
        _weights = weights;
        var w = weights.Root;
        if (!w.Has("embeddings.word_embeddings.weight") && w.Has("bert.embeddings.word_embeddings.weight")) w = w.Pp("bert");
        int d = config.HiddenSize;
        var emb = w.Pp("embeddings");
        _wordEmbeddings = emb.Get("word_embeddings.weight", config.VocabSize, d);
        _positionEmbeddings = emb.Get("position_embeddings.weight", config.MaxPositions, d);
        _tokenTypeEmbeddings = emb.Get("token_type_embeddings.weight", config.TypeVocabSize, d);
        _embLnW = emb.Get("LayerNorm.weight", d);
        _embLnB = emb.Get("LayerNorm.bias", d);
        var layers = w.Pp("encoder").Pp("layer");
        _layers = new BertLayer[config.NumLayers];
        for (int i = 0; i < _layers.Length; i++) _layers[i] = new BertLayer(layers.Pp(i), config);
    }

    public BertConfig Config { get; }
    public long WeightBytes => _weights.Bytes;

    /// <summary>Loads config.json and model.safetensors (or its shards) from a transformers BERT folder.</summary>
    public static BertModel Load(string dir, IOps ops)
    {
        var config = BertConfig.Load(Path.Combine(dir, "config.json"));
        using var source = Checkpoint.Open(dir);
        return Load(config, source, ops);
    }

    public static BertModel Load(BertConfig config, ITensorSource source, IOps ops)
    {
        var weights = new ModelWeights(source, ops);
        try { return weights.Checked(new BertModel(config, weights)); }
        catch { weights.Dispose(); throw; }
    }

    /// <summary>
    /// last_hidden_state [B, S, D] for token ids [B·S] (row-major), an optional 0/1 attention mask (null: all
    /// tokens real) and optional token type ids (null: all 0, as when the pipeline passes none).
    /// </summary>
    public Tensor Encode(IOps ops, long[] inputIds, long[]? attentionMask, int batch, int seqLen, long[]? tokenTypeIds = null)
    {
        var c = Config;
        if (inputIds.Length != batch * seqLen)
            throw new ArgumentException($"{c.Path}: BERT input_ids has {inputIds.Length} ids, expected batch {batch} × length {seqLen}");
        if (seqLen < 1 || seqLen > c.MaxPositions)
            throw new ArgumentException($"{c.Path}: sequence length {seqLen} is outside 1..max_position_embeddings {c.MaxPositions}");
        if (attentionMask is not null && attentionMask.Length != inputIds.Length)
            throw new ArgumentException($"{c.Path}: BERT attention_mask has {attentionMask.Length} entries, expected {inputIds.Length}");
        if (tokenTypeIds is not null && tokenTypeIds.Length != inputIds.Length)
            throw new ArgumentException($"{c.Path}: BERT token_type_ids has {tokenTypeIds.Length} entries, expected {inputIds.Length}");
        foreach (var id in inputIds)
            if (id < 0 || id >= c.VocabSize) throw new ArgumentOutOfRangeException(nameof(inputIds), $"{c.Path}: token id {id} is outside the vocabulary 0..{c.VocabSize - 1}");
        if (tokenTypeIds is not null)
            foreach (var t in tokenTypeIds)
                if (t < 0 || t >= c.TypeVocabSize) throw new ArgumentOutOfRangeException(nameof(tokenTypeIds), $"{c.Path}: token type {t} is outside 0..{c.TypeVocabSize - 1}");

        int d = c.HiddenSize;
        Tensor h;
        // transformers' order: (word + token type) + position, then LayerNorm
        using (var word = ops.Embedding(_wordEmbeddings, inputIds))
        using (var types = tokenTypeIds is null ? null : ops.Embedding(_tokenTypeEmbeddings, tokenTypeIds))
        using (var withTypes = ops.Add(word.Reshape(batch, seqLen, d), types is null ? _tokenTypeEmbeddings.Slice(0, 0, 1) : types.Reshape(batch, seqLen, d)))
        using (var withPositions = ops.Add(withTypes, _positionEmbeddings.Slice(0, 0, seqLen)))
            h = ops.LayerNorm(withPositions, _embLnW, _embLnB, c.LayerNormEps);

        using var keyBias = PaddingBias(ops, attentionMask, batch, seqLen);
        var options = new AttentionOptions { KeyBias = keyBias };
        try
        {
            foreach (var layer in _layers)
            {
                var next = layer.Forward(ops, h, options);
                h.Dispose();
                h = next;
            }
            var result = h;
            h = null!;
            return result;
        }
        finally { h?.Dispose(); }
    }

    /// <summary>transformers adds finfo(dtype).min on padded keys; the same here in the activation dtype (a padded
    /// query row still sees the real keys, so no row is fully masked).</summary>
    static Tensor? PaddingBias(IOps ops, long[]? mask, int batch, int seqLen)
    {
        if (mask is null || Array.TrueForAll(mask, m => m != 0)) return null;
        float neg = ops.ActivationType switch { DType.F16 => -65504f, DType.BF16 => -3.3895314e38f, _ => float.MinValue };
        var bias = new float[mask.Length];
        for (int i = 0; i < mask.Length; i++) bias[i] = mask[i] != 0 ? 0f : neg;
        return ops.FromHost(bias, batch, seqLen);
    }

    public void Dispose() => _weights.Dispose();
}
