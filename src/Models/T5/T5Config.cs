using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.T5;

/// <summary>The encoder keys of a transformers T5Config, MT5Config or UMT5Config (config.json), with transformers'
/// defaults. The three encoders differ only in where the relative position bias lives: T5 and mT5 compute it from
/// block 0's table and share it with every block; UMT5 gives every block its own table.</summary>
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
    /// <summary>"t5", "mt5" or "umt5".</summary>
    public string ModelType { get; init; } = "t5";
    /// <summary>UMT5: each block has its own relative_attention_bias table (T5, mT5: block 0's, shared).</summary>
    public bool PositionBiasPerLayer => ModelType == "umt5";

    public int InnerDim => NumHeads * DKv;

    public static T5Config Load(string path) => From(JsonConfig.Load(path));

    public static T5Config From(JsonConfig c)
    {
        var modelType = c.GetString("model_type", "t5")!;
        if (modelType is not ("t5" or "mt5" or "umt5"))
            throw new NotSupportedException($"{c.Path}: model_type '{modelType}' is not supported by the T5 encoder (expected 't5', 'mt5' or 'umt5')");
        CheckArchitectures(c, modelType);

        // transformers: feed_forward_proj "{gated-}act"; "gated-gelu" means gelu_new (tanh) for backward compatibility
        var proj = c.GetString("feed_forward_proj", "relu")!;
        var parts = proj.Split('-');
        bool gated = parts[0] == "gated";
        if (parts.Length > 2 || (parts.Length == 2 && !gated))
            throw new FormatException($"{c.Path}: feed_forward_proj '{proj}' is not of the form '{{gated-}}{{activation}}'");
        string actName = proj == "gated-gelu" ? "gelu_new" : parts[^1];
        // transformers derives dense_act_fn and is_gated_act from feed_forward_proj; configs store them too (UMT5's
        // do): a stored value that disagrees would make the two libraries run different feed-forwards
        if (c.Has("dense_act_fn") && c.GetString("dense_act_fn") != actName)
            throw new NotSupportedException($"{c.Path}: dense_act_fn '{c.GetString("dense_act_fn")}' disagrees with feed_forward_proj '{proj}' (expected '{actName}')");
        if (c.Has("is_gated_act") && c.GetBool("is_gated_act") != gated)
            throw new NotSupportedException($"{c.Path}: is_gated_act {c.GetBool("is_gated_act").ToString().ToLowerInvariant()} disagrees with feed_forward_proj '{proj}' (expected {gated.ToString().ToLowerInvariant()})");
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
            ModelType = modelType,
        };
        if (cfg.RelativeAttentionNumBuckets < 4 || cfg.RelativeAttentionNumBuckets % 2 != 0)
            throw new FormatException($"{c.Path}: relative_attention_num_buckets {cfg.RelativeAttentionNumBuckets} must be even and at least 4");
        return cfg;
    }

    /// <summary>The transformers classes whose encoder this is. UMT5's classes go with model_type umt5 only: its blocks
    /// each hold a position table, so a UMT5 checkpoint read as T5 (or the reverse) would compute something else.</summary>
    static readonly string[] Families = ["T5", "MT5", "UMT5"];
    static readonly string[] Heads = ["EncoderModel", "Model", "ForConditionalGeneration"];

    static void CheckArchitectures(JsonConfig c, string modelType)
    {
        if (!c.Has("architectures")) return;
        foreach (var arch in c.GetStringArray("architectures"))
        {
            var family = Families.Where(f => Heads.Any(h => arch == f + h)).Select(f => f.ToLowerInvariant()).FirstOrDefault()
                ?? throw new NotSupportedException($"{c.Path}: architectures '{arch}' is not a T5 encoder (expected one of {string.Join(", ", Families.SelectMany(f => Heads.Select(h => f + h)))})");
            if ((family == "umt5") != (modelType == "umt5"))
                throw new NotSupportedException($"{c.Path}: architectures '{arch}' does not go with model_type '{modelType}' (UMT5 classes need model_type 'umt5' and the reverse)");
        }
    }
}
