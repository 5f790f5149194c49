using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Clip;

/// <summary>
/// transformers' CLIPTextModel / CLIPTextModelWithProjection (causal text transformer, no padding mask, as the
/// SD3 and Flux pipelines call it). Weights are read by their transformers names under <c>text_model.</c>.
/// </summary>
public sealed class ClipTextModel : IDisposable
{
    readonly ModelWeights _weights;
    readonly ClipEncoderLayer[] _layers;
    readonly Tensor _tokenEmbedding, _positionEmbedding, _finalLnW, _finalLnB;
    readonly Tensor? _projection;

    ClipTextModel(ClipTextConfig config, ModelWeights weights)
    {
        Config = config;
        _weights = weights;
        var w = weights.Root;
        var text = w.Pp("text_model");
        int d = config.HiddenSize;
        _tokenEmbedding = text.Get("embeddings.token_embedding.weight", config.VocabSize, d);
        _positionEmbedding = text.Get("embeddings.position_embedding.weight", config.MaxPositions, d);
        _layers = new ClipEncoderLayer[config.NumLayers];
        var layers = text.Pp("encoder").Pp("layers");
        for (int i = 0; i < _layers.Length; i++) _layers[i] = new ClipEncoderLayer(layers.Pp(i), config);
        _finalLnW = text.Get("final_layer_norm.weight", d);
        _finalLnB = text.Get("final_layer_norm.bias", d);
        if (config.HasProjection) _projection = w.GetOperand("text_projection.weight", config.ProjectionDim, d);
    }

    public ClipTextConfig Config { get; }
    public long WeightBytes => _weights.Bytes;

    /// <summary>Loads config.json and model.safetensors (or its shards) from a transformers CLIP text folder.</summary>
    public static ClipTextModel Load(string dir, IOps ops)
    {
        var config = ClipTextConfig.Load(Path.Combine(dir, "config.json"));
        using var source = Checkpoint.Open(dir);
        var weights = new ModelWeights(source, ops);
        try { return weights.Checked(new ClipTextModel(config, weights)); }
        catch { weights.Dispose(); throw; }
    }

    /// <summary>Runs the model on token ids [batch, seqLen] (row-major). <paramref name="clipSkip"/> (diffusers'
    /// clip_skip, 0 = none) picks which hidden state <see cref="ClipOutput.PenultimateHiddenState"/> holds:
    /// hidden_states[−(clipSkip + 2)].</summary>
    public ClipOutput Encode(IOps ops, long[] ids, int batch, int seqLen, int clipSkip = 0)
    {
        if (clipSkip < 0 || clipSkip > _layers.Length - 1)
            throw new ArgumentException($"{Config.Path}: clip_skip {clipSkip} is outside 0..{_layers.Length - 1} (the model has {_layers.Length} layers; hidden_states[-(clip_skip + 2)] must exist)");
        if (ids.Length != batch * seqLen)
            throw new ArgumentException($"{Config.Path}: {ids.Length} token ids given for batch {batch} × length {seqLen}");
        if (seqLen < 1 || seqLen > Config.MaxPositions)
            throw new ArgumentException($"{Config.Path}: sequence length {seqLen} is outside 1..max_position_embeddings {Config.MaxPositions}");
        foreach (var id in ids)
            if (id < 0 || id >= Config.VocabSize)
                throw new ArgumentException($"{Config.Path}: token id {id} is outside the vocabulary 0..{Config.VocabSize - 1}");

        int d = Config.HiddenSize;
        Tensor h;
        using (var tok = ops.Embedding(_tokenEmbedding, ids))
            h = ops.Add(tok.Reshape(batch, seqLen, d), _positionEmbedding.Slice(0, 0, seqLen));

        // hidden_states[-(k + 2)] is the input of layer L − 1 − k (k = 0: of the last layer; the embeddings when
        // that is layer 0).
        Tensor? penultimate = null;
        int keep = _layers.Length - 1 - clipSkip;
        for (int i = 0; i < _layers.Length; i++)
        {
            var next = _layers[i].Forward(ops, h);
            if (i == keep) penultimate = h;
            else h.Dispose();
            h = next;
        }

        Tensor last;
        using (h) last = ops.LayerNorm(h, _finalLnW, _finalLnB, Config.LayerNormEps);

        var rows = new long[batch];
        for (int b = 0; b < batch; b++) rows[b] = (long)b * seqLen + EosPosition(ids.AsSpan(b * seqLen, seqLen));
        var pooled = ops.Embedding(last.Reshape(batch * seqLen, d), rows);   // picks row b·S + eos_b
        var embeds = _projection is null ? null : ops.Linear(pooled, _projection);

        return new ClipOutput { LastHiddenState = last, PenultimateHiddenState = penultimate!, Pooled = pooled, TextEmbeds = embeds };
    }

    /// <summary>Where transformers pools: with the legacy eos_token_id 2 (the original CLIP configs) the position
    /// of the largest id, which is the EOS 49407 in the real vocabulary; otherwise the first position holding
    /// eos_token_id (position 0 when none does, as argmax over an all-false mask gives).</summary>
    public int EosPosition(ReadOnlySpan<long> rowIds)
    {
        if (Config.EosTokenId == 2)
        {
            int best = 0;
            for (int i = 1; i < rowIds.Length; i++) if (rowIds[i] > rowIds[best]) best = i;
            return best;
        }
        int p = rowIds.IndexOf(Config.EosTokenId);
        return p >= 0 ? p : 0;
    }

    public void Dispose() => _weights.Dispose();
}
