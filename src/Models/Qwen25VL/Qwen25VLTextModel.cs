using XDit.Kernels;
using XDit.Models.Common.Layers;
using XDit.Runtime;

namespace XDit.Models.Qwen25VL;

/// <summary>
/// The language model of transformers' Qwen2_5_VLForConditionalGeneration run on text alone, as QwenImagePipeline
/// runs it for its prompt embeddings: token embeddings, Qwen2 decoder layers (GQA with q/k/v biases, multimodal RoPE
/// that text reduces to ordinary RoPE, causal mask plus padded keys hidden, SwiGLU), final RMSNorm. Returns the
/// last hidden state (hidden_states[-1], after the final norm). Padded query rows still run, with position 1 (as
/// get_rope_index gives padding), and are returned. The vision tower and lm_head are not loaded. Weights under
/// <c>model.</c> (the legacy names save_pretrained writes), <c>model.language_model.</c> or the root.
/// </summary>
public sealed class Qwen25VLTextModel : IDisposable
{
    readonly ModelWeights _weights;
    readonly Tensor _embedding;
    readonly Tensor _finalNorm;
    readonly LlamaDecoderLayer[] _layers;

    Qwen25VLTextModel(Qwen25VLTextConfig config, ModelWeights weights)
    {
        Config = config;
        _weights = weights;
        var w = weights.Root;
        if (w.Has("model.embed_tokens.weight")) w = w.Pp("model");
        else if (w.Has("model.language_model.embed_tokens.weight")) w = w.Pp("model").Pp("language_model");
        _embedding = w.Get("embed_tokens.weight", config.VocabSize, config.HiddenSize);
        var layers = w.Pp("layers");
        _layers = Enumerable.Range(0, config.NumLayers).Select(i => new LlamaDecoderLayer(layers.Pp(i), config.Decoder)).ToArray();
        _finalNorm = w.Get("norm.weight", config.HiddenSize);
    }

    public Qwen25VLTextConfig Config { get; }
    public long WeightBytes => _weights.Bytes;

    /// <summary>Loads config.json and model.safetensors (or its shards) from a transformers Qwen2.5-VL folder
    /// (QwenImage's text_encoder/).</summary>
    public static Qwen25VLTextModel Load(string dir, IOps ops)
    {
        var config = Qwen25VLTextConfig.Load(Path.Combine(dir, "config.json"));
        using var source = Checkpoint.Open(dir);
        return Load(config, source, ops);
    }

    public static Qwen25VLTextModel Load(Qwen25VLTextConfig config, ITensorSource source, IOps ops)
    {
        var weights = new ModelWeights(source, ops);
        try { return weights.Checked(new Qwen25VLTextModel(config, weights), "visual", "model.visual", "lm_head"); }
        catch { weights.Dispose(); throw; }
    }

    /// <summary>last_hidden_state [B, S, D] for token ids [B·S] (row-major) and an optional 0/1 attention mask
    /// (null: every token real).</summary>
    public Tensor Encode(IOps ops, long[] inputIds, long[]? attentionMask, int batch, int seqLen)
    {
        var c = Config;
        if (inputIds.Length != batch * seqLen)
            throw new ArgumentException($"{c.Path}: Qwen2.5-VL input_ids has {inputIds.Length} ids, expected batch {batch} × length {seqLen}");
        if (seqLen < 1 || seqLen > c.MaxPositions)
            throw new ArgumentException($"{c.Path}: sequence length {seqLen} is outside 1..max_position_embeddings {c.MaxPositions}");
        if (attentionMask is not null && attentionMask.Length != inputIds.Length)
            throw new ArgumentException($"{c.Path}: Qwen2.5-VL attention_mask has {attentionMask.Length} entries, expected {inputIds.Length}");
        foreach (var id in inputIds)
            if (id < 0 || id >= c.VocabSize) throw new ArgumentOutOfRangeException(nameof(inputIds), $"{c.Path}: token id {id} is outside the vocabulary 0..{c.VocabSize - 1}");

        var pos = Qwen25VLRotary.TextPositions(attentionMask, batch, seqLen);
        var (cosTable, sinTable) = Qwen25VLRotary.Tables(c.HeadDim, c.RopeTheta, c.MropeSection, [pos, pos, pos]);
        using var cos = UploadF32(ops, cosTable, batch * seqLen, c.HeadDim);
        using var sin = UploadF32(ops, sinTable, batch * seqLen, c.HeadDim);
        using var keyBias = PaddedKeyBias.From(ops, attentionMask, batch, seqLen);
        var attention = new AttentionOptions { Causal = true, KeyBias = keyBias };

        var h = ops.Embedding(_embedding, inputIds).TakeReshaped(batch, seqLen, c.HiddenSize);
        try
        {
            foreach (var layer in _layers)
            {
                var next = layer.Forward(ops, h, cos, sin, attention);
                h.Dispose();
                h = next;
            }
            return ops.RmsNorm(h, _finalNorm, c.RmsNormEps);
        }
        finally { h.Dispose(); }
    }

    static Tensor UploadF32(IOps ops, float[] values, params int[] shape)
    {
        using var host = Tensor.FromArray(values, shape);
        return ops.Upload(host);
    }

    public void Dispose() => _weights.Dispose();
}
