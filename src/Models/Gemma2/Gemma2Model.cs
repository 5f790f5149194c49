using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Gemma2;

/// <summary>
/// transformers' Gemma2Model as a text encoder (SANA's): token embeddings scaled by √hidden_size, decoder layers
/// alternating sliding-window and full causal attention with grouped K/V heads and logit soft-capping, rotary
/// positions 0…S−1, final (1 + w) RMSNorm. Returns last_hidden_state. Padding is on the right: padded keys are
/// masked, padded query rows still run (as in transformers) and are returned. The final logit soft-capping of the
/// config belongs to the language-model head, which an encoder does not run. Weights by their transformers names,
/// at the root or under <c>model.</c> (as Gemma2ForCausalLM stores them).
/// </summary>
public sealed class Gemma2Model : IDisposable
{
    readonly ModelWeights _weights;
    readonly Tensor _embedding;
    readonly Tensor _finalNorm;
    readonly Gemma2DecoderLayer[] _layers;

    Gemma2Model(Gemma2Config config, ModelWeights weights)
    {
        Config = config;
        _weights = weights;
        var w = weights.Root;
        if (!w.Has("embed_tokens.weight") && w.Has("model.embed_tokens.weight")) w = w.Pp("model");
        _embedding = w.Get("embed_tokens.weight", config.VocabSize, config.HiddenSize);
        var layers = w.Pp("layers");
        var made = new List<Gemma2DecoderLayer>();
        try
        {
            for (int i = 0; i < config.NumLayers; i++) made.Add(new Gemma2DecoderLayer(layers.Pp(i), config, i));
            _finalNorm = Gemma2Norm.OnePlusWeight(w, "norm.weight", config.HiddenSize);
        }
        catch
        {
            foreach (var l in made) l.Dispose();
            throw;
        }
        _layers = made.ToArray();
    }

    public Gemma2Config Config { get; }
    public long WeightBytes => _weights.Bytes;

    /// <summary>Loads config.json and model.safetensors (or its shards) from a transformers Gemma 2 folder.</summary>
    public static Gemma2Model Load(string dir, IOps ops)
    {
        var config = Gemma2Config.Load(Path.Combine(dir, "config.json"));
        using var source = Checkpoint.Open(dir);
        return Load(config, source, ops);
    }

    public static Gemma2Model Load(Gemma2Config config, ITensorSource source, IOps ops)
    {
        var weights = new ModelWeights(source, ops);
        try { return weights.Checked(new Gemma2Model(config, weights)); }
        catch { weights.Dispose(); throw; }
    }

    /// <summary>last_hidden_state [B, S, D] for token ids [B·S] (row-major) and an optional 0/1 attention mask
    /// (null: every token real).</summary>
    public Tensor Encode(IOps ops, long[] inputIds, long[]? attentionMask, int batch, int seqLen)
    {
        var c = Config;
        if (inputIds.Length != batch * seqLen)
            throw new ArgumentException($"{c.Path}: Gemma 2 input_ids has {inputIds.Length} ids, expected batch {batch} × length {seqLen}");
        if (seqLen < 1 || seqLen > c.MaxPositions)
            throw new ArgumentException($"{c.Path}: sequence length {seqLen} is outside 1..max_position_embeddings {c.MaxPositions}");
        if (attentionMask is not null && attentionMask.Length != inputIds.Length)
            throw new ArgumentException($"{c.Path}: Gemma 2 attention_mask has {attentionMask.Length} entries, expected {inputIds.Length}");
        foreach (var id in inputIds)
            if (id < 0 || id >= c.VocabSize) throw new ArgumentOutOfRangeException(nameof(inputIds), $"{c.Path}: token id {id} is outside the vocabulary 0..{c.VocabSize - 1}");

        int d = c.HiddenSize;
        var (cosTable, sinTable) = Gemma2Rotary.Tables(c.HeadDim, c.RopeTheta, seqLen);
        using var cos = UploadF32(ops, cosTable, seqLen, c.HeadDim);
        using var sin = UploadF32(ops, sinTable, seqLen, c.HeadDim);
        // float32 masks: the layers add them to float32 scores
        using var fullMask = UploadF32(ops, Gemma2Masks.Additive(attentionMask, batch, seqLen, window: null, float.MinValue), batch, 1, seqLen, seqLen);
        using var slidingMask = c.SlidingWindow is int w && c.SlidingLayers.Any(x => x)
            ? UploadF32(ops, Gemma2Masks.Additive(attentionMask, batch, seqLen, w, float.MinValue), batch, 1, seqLen, seqLen)
            : null;

        // transformers multiplies by √hidden_size rounded to the activation dtype
        Tensor h;
        using (var emb = ops.Embedding(_embedding, inputIds))
            h = ops.Scale(emb.Reshape(batch, seqLen, d), (float)Math.Sqrt(d));
        try
        {
            foreach (var layer in _layers)
            {
                var next = layer.Forward(ops, h, cos, sin, layer.IsSliding ? slidingMask! : fullMask);
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

    public void Dispose()
    {
        foreach (var l in _layers) l.Dispose();
        _finalNorm.Dispose();
        _weights.Dispose();
    }
}
