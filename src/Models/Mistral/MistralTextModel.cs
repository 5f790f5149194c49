using XDit.Kernels;
using XDit.Models.Common.Layers;
using XDit.Runtime;

namespace XDit.Models.Mistral;

/// <summary>
/// A Llama-family text decoder run as a text encoder: transformers' MistralModel (the language model inside Flux 2's
/// Mistral3ForConditionalGeneration, text only) or LlamaModel. Token embeddings, pre-normed decoder layers (GQA,
/// plain RoPE at positions 0 … S − 1 whatever the padding, SwiGLU, biases as the config says), final RMSNorm.
/// Attention is causal with padded keys hidden (right padding: padded query rows still run and are returned, as in
/// transformers), and windowed where a Mistral config gives a sliding window shorter than the prompt.
/// Encoders read intermediate layers (<see cref="HiddenStates"/>: transformers' output_hidden_states), so only the
/// layers up to the deepest one asked for are run. The vision tower, projector and lm_head are not loaded. Weights
/// under <c>language_model.model.</c> (Mistral3 as transformers 4.x saves it), <c>model.language_model.</c>,
/// <c>language_model.</c>, <c>model.</c> (…ForCausalLM) or the root (a bare MistralModel / LlamaModel).
/// </summary>
public sealed class MistralTextModel : IDisposable
{
    static readonly string[] Prefixes = ["language_model.model", "model.language_model", "language_model", "model"];
    static readonly string[] NotLoaded =
        ["vision_tower", "multi_modal_projector", "lm_head", "language_model.lm_head", "model.vision_tower", "model.multi_modal_projector"];

    readonly ModelWeights _weights;
    readonly Tensor _embedding;
    readonly Tensor _finalNorm;
    readonly LlamaDecoderLayer[] _layers;

    MistralTextModel(MistralTextConfig config, ModelWeights weights)
    {
        Config = config;
        _weights = weights;
        var w = weights.Root;
        foreach (var prefix in Prefixes)
            if (w.Has(prefix + ".embed_tokens.weight")) { w = w.Pp(prefix); break; }
        _embedding = w.Get("embed_tokens.weight", config.VocabSize, config.HiddenSize);
        var layers = w.Pp("layers");
        _layers = Enumerable.Range(0, config.NumLayers).Select(i => new LlamaDecoderLayer(layers.Pp(i), config.Decoder)).ToArray();
        _finalNorm = w.Get("norm.weight", config.HiddenSize);
    }

    public MistralTextConfig Config { get; }
    public long WeightBytes => _weights.Bytes;

    /// <summary>Loads config.json and model.safetensors (or its shards) from a transformers folder (Flux 2's
    /// text_encoder/, a Mistral or Llama checkpoint).</summary>
    public static MistralTextModel Load(string dir, IOps ops)
    {
        var config = MistralTextConfig.Load(Path.Combine(dir, "config.json"));
        using var source = Checkpoint.Open(dir);
        return Load(config, source, ops);
    }

    public static MistralTextModel Load(MistralTextConfig config, ITensorSource source, IOps ops)
    {
        var weights = new ModelWeights(source, ops);
        try { return weights.Checked(new MistralTextModel(config, weights), NotLoaded); }
        catch { weights.Dispose(); throw; }
    }

    /// <summary>last_hidden_state [B, S, D] (after the final norm) for token ids [B·S] (row-major) and an optional 0/1
    /// attention mask (null: every token real).</summary>
    public Tensor Encode(IOps ops, long[] inputIds, long[]? attentionMask, int batch, int seqLen)
        => HiddenStates(ops, inputIds, attentionMask, batch, seqLen, [Config.NumLayers])[0];

    /// <summary>
    /// transformers' hidden_states[k] [B, S, D] for each k of <paramref name="indices"/>, in that order: 0 is the
    /// token embeddings, k the output of layer k − 1, NumLayers the last hidden state (after the final norm; the one
    /// entry that is normed); a negative k counts from the end as Python does (−1 = NumLayers). Each returned tensor
    /// is the caller's, a repeated index included.
    /// </summary>
    public Tensor[] HiddenStates(IOps ops, long[] inputIds, long[]? attentionMask, int batch, int seqLen, IReadOnlyList<int> indices)
    {
        var c = Config;
        if (inputIds.Length != batch * seqLen)
            throw new ArgumentException($"{c.Path}: input_ids has {inputIds.Length} ids, expected batch {batch} × length {seqLen}");
        if (seqLen < 1 || seqLen > c.MaxPositions)
            throw new ArgumentException($"{c.Path}: sequence length {seqLen} is outside 1..max_position_embeddings {c.MaxPositions}");
        if (attentionMask is not null && attentionMask.Length != inputIds.Length)
            throw new ArgumentException($"{c.Path}: attention_mask has {attentionMask.Length} entries, expected {inputIds.Length}");
        foreach (var id in inputIds)
            if (id < 0 || id >= c.VocabSize) throw new ArgumentOutOfRangeException(nameof(inputIds), $"{c.Path}: token id {id} is outside the vocabulary 0..{c.VocabSize - 1}");
        if (indices.Count == 0) throw new ArgumentException("no hidden state asked for", nameof(indices));
        int n = c.NumLayers;
        var wanted = indices.Select(k => k < 0 ? k + n + 1 : k).ToArray();
        foreach (var (k, asked) in wanted.Zip(indices))
            if (k < 0 || k > n)
                throw new ArgumentOutOfRangeException(nameof(indices), asked, $"{c.Path}: hidden state {asked} is outside the {n + 1} transformers returns (−{n + 1} … {n})");

        // every sample has the positions 0 … S − 1 (transformers' cache_position), padded or not
        var (cosTable, sinTable) = RopeTables.Sequential(c.HeadDim, c.RopeTheta, seqLen);
        using var cos = UploadF32(ops, cosTable, seqLen, c.HeadDim);
        using var sin = UploadF32(ops, sinTable, seqLen, c.HeadDim);
        using var keyBias = PaddedKeyBias.From(ops, attentionMask, batch, seqLen);
        // with causal masking, the band |i − j| ≤ window − 1 keeps exactly the keys i − window < j ≤ i
        int? band = c.SlidingWindow is int w && w < seqLen ? w - 1 : null;
        var attention = new AttentionOptions { Causal = true, KeyBias = keyBias, Window = band };

        var result = new Tensor?[wanted.Length];
        int deepest = wanted.Max();
        var h = ops.Embedding(_embedding, inputIds).TakeReshaped(batch, seqLen, c.HiddenSize);
        try
        {
            Keep(ops, h, 0, wanted, result);
            for (int i = 0; i < Math.Min(deepest, n); i++)
            {
                var next = _layers[i].Forward(ops, h, cos, sin, attention);
                h.Dispose();
                h = next;
                if (i + 1 < n) Keep(ops, h, i + 1, wanted, result);
            }
            if (deepest == n)
            {
                using var last = ops.RmsNorm(h, _finalNorm, c.Decoder.RmsNormEps);
                Keep(ops, last, n, wanted, result);
            }
            return result.Select(t => t!).ToArray();
        }
        catch
        {
            foreach (var t in result) t?.Dispose();
            throw;
        }
        finally { h.Dispose(); }
    }

    /// <summary>A copy of hidden state <paramref name="k"/> into every slot that asked for it.</summary>
    static void Keep(IOps ops, Tensor h, int k, int[] wanted, Tensor?[] result)
    {
        for (int j = 0; j < wanted.Length; j++)
            if (wanted[j] == k) result[j] = ops.Contiguous(h);
    }

    static Tensor UploadF32(IOps ops, float[] values, params int[] shape)
    {
        using var host = Tensor.FromArray(values, shape);
        return ops.Upload(host);
    }

    public void Dispose() => _weights.Dispose();
}
