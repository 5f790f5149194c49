using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.T5;

/// <summary>The encoder keys of a transformers T5Config (config.json), with transformers' defaults.</summary>
public sealed record T5Config
{
    public required int VocabSize { get; init; }
    public required int DModel { get; init; }
    public required int DKv { get; init; }
    public required int DFf { get; init; }
    public required int NumLayers { get; init; }
    public required int NumHeads { get; init; }
    public required int RelativeAttentionNumBuckets { get; init; }
    public required int RelativeAttentionMaxDistance { get; init; }
    public required double LayerNormEpsilon { get; init; }
    /// <summary>Gated feed-forward (wi_0, wi_1) as in T5 v1.1 ("gated-gelu"), else one wi.</summary>
    public required bool IsGatedAct { get; init; }
    public required Activation DenseActivation { get; init; }

    public int InnerDim => NumHeads * DKv;

    public static T5Config Load(string path) => From(JsonConfig.Load(path));

    public static T5Config From(JsonConfig c)
    {
        var modelType = c.GetString("model_type", "t5");
        if (modelType is not ("t5" or "mt5"))
            throw new NotSupportedException($"{c.Path}: model_type '{modelType}' is not supported by the T5 encoder (expected 't5' or 'mt5')");

        // transformers: feed_forward_proj "{gated-}act"; "gated-gelu" means gelu_new (tanh) for backward compatibility
        var proj = c.GetString("feed_forward_proj", "relu")!;
        var parts = proj.Split('-');
        bool gated = parts[0] == "gated";
        if (parts.Length > 2 || (parts.Length == 2 && !gated))
            throw new FormatException($"{c.Path}: feed_forward_proj '{proj}' is not of the form '{{gated-}}{{activation}}'");
        string actName = proj == "gated-gelu" ? "gelu_new" : parts[^1];
        var act = actName switch
        {
            "gelu_new" or "gelu_pytorch_tanh" or "gelu_fast" => Activation.GeluTanh,
            "gelu" => Activation.Gelu,
            "relu" => Activation.Relu,
            "silu" or "swish" => Activation.Silu,
            _ => throw new NotSupportedException($"{c.Path}: feed_forward_proj activation '{actName}' is not supported (gelu_new, gelu, relu, silu)"),
        };

        var cfg = new T5Config
        {
            VocabSize = c.GetInt("vocab_size", 32128, 1, ConfigBounds.Vocab),
            DModel = c.GetInt("d_model", 512, 1, ConfigBounds.Width),
            DKv = c.GetInt("d_kv", 64, 1, ConfigBounds.HeadDim),
            DFf = c.GetInt("d_ff", 2048, 1, ConfigBounds.Width),
            NumLayers = c.GetInt("num_layers", 6, 1, ConfigBounds.Layers),
            NumHeads = c.GetInt("num_heads", 8, 1, ConfigBounds.Heads),
            RelativeAttentionNumBuckets = c.GetInt("relative_attention_num_buckets", 32, 1, ConfigBounds.Positions),
            RelativeAttentionMaxDistance = c.GetInt("relative_attention_max_distance", 128, 1, ConfigBounds.Positions),
            LayerNormEpsilon = c.GetPositiveDouble("layer_norm_epsilon", 1e-6),
            IsGatedAct = gated,
            DenseActivation = act,
        };
        if (cfg.RelativeAttentionNumBuckets < 4 || cfg.RelativeAttentionNumBuckets % 2 != 0)
            throw new FormatException($"{c.Path}: relative_attention_num_buckets {cfg.RelativeAttentionNumBuckets} must be even and at least 4");
        return cfg;
    }
}
