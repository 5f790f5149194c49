using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Gemma2;

/// <summary>
/// The keys of a transformers Gemma2Config (config.json) that the text encoder needs, with transformers' defaults
/// (Gemma-2-2B). SANA uses Gemma2Model's last_hidden_state as its text embedding.
/// </summary>
public sealed record Gemma2Config
{
    public const string ClassName = "Gemma2Model";

    public required string Path { get; init; }
    public required int VocabSize { get; init; }
    public required int HiddenSize { get; init; }
    public required int IntermediateSize { get; init; }
    public required int NumLayers { get; init; }
    public required int NumHeads { get; init; }
    public required int NumKeyValueHeads { get; init; }
    public required int HeadDim { get; init; }
    public required int MaxPositions { get; init; }
    public required float RmsNormEps { get; init; }
    public required double RopeTheta { get; init; }
    /// <summary>Scores are q·k·query_pre_attn_scalar^(−1/2) (not 1/√head_dim).</summary>
    public required double QueryPreAttnScalar { get; init; }
    /// <summary>Scores become cap·tanh(scores/cap) before the mask; null: no capping.</summary>
    public required double? AttnLogitSoftcapping { get; init; }
    /// <summary>Keys a sliding layer sees: the query's own position and the window − 1 before it; null: none slide.</summary>
    public required int? SlidingWindow { get; init; }
    /// <summary>Per layer: true for a sliding-window layer ("sliding_attention"), false for full attention.</summary>
    public required bool[] SlidingLayers { get; init; }
    public required Activation HiddenActivation { get; init; }
    public required bool AttentionBias { get; init; }

    public int KeyValueGroups => NumHeads / NumKeyValueHeads;

    public static Gemma2Config Load(string path) => From(JsonConfig.Load(path));

    public static Gemma2Config From(JsonConfig c)
    {
        string modelType = c.GetString("model_type", "gemma2")!;
        if (modelType != "gemma2")
            throw new NotSupportedException($"{c.Path}: model_type '{modelType}' is not supported by the Gemma 2 encoder (expected 'gemma2')");
        int heads = c.GetInt("num_attention_heads", 8), kvHeads = c.GetInt("num_key_value_heads", 4);
        if (heads < 1 || kvHeads < 1 || heads % kvHeads != 0)
            throw new FormatException($"{c.Path}: num_attention_heads {heads} is not a multiple of num_key_value_heads {kvHeads}");
        int layers = c.GetInt("num_hidden_layers", 26);
        if (layers < 1) throw new FormatException($"{c.Path}: num_hidden_layers {layers} must be at least 1");
        int headDim = c.GetInt("head_dim", 256);
        if (headDim % 2 != 0) throw new FormatException($"{c.Path}: head_dim {headDim} must be even (rotary embedding)");
        int? window = c.Has("sliding_window") ? c.GetInt("sliding_window") : null;
        if (window is < 1) throw new FormatException($"{c.Path}: sliding_window {window} must be at least 1");

        // transformers: layer_types when given, else every even layer slides
        bool[] sliding;
        if (c.Has("layer_types"))
        {
            var types = c.GetStringArray("layer_types");
            if (types.Length != layers)
                throw new FormatException($"{c.Path}: layer_types has {types.Length} entries, num_hidden_layers is {layers}");
            sliding = types.Select(t => t switch
            {
                "sliding_attention" => true,
                "full_attention" => false,
                _ => throw new NotSupportedException($"{c.Path}: layer type '{t}' is not supported (sliding_attention, full_attention)"),
            }).ToArray();
        }
        else sliding = Enumerable.Range(0, layers).Select(i => i % 2 == 0).ToArray();
        if (window is null) sliding = new bool[layers];

        // transformers reads hidden_activation (hidden_act is the legacy key)
        string act = c.GetString("hidden_activation", null) ?? c.GetString("hidden_act", "gelu_pytorch_tanh")!;
        double? softcap = c.GetDoubleOrNull("attn_logit_softcapping");
        if (softcap is <= 0) throw new FormatException($"{c.Path}: attn_logit_softcapping {softcap} must be positive");
        return new Gemma2Config
        {
            Path = c.Path,
            VocabSize = c.GetInt("vocab_size", 256000),
            HiddenSize = c.GetInt("hidden_size", 2304),
            IntermediateSize = c.GetInt("intermediate_size", 9216),
            NumLayers = layers,
            NumHeads = heads,
            NumKeyValueHeads = kvHeads,
            HeadDim = headDim,
            MaxPositions = c.GetInt("max_position_embeddings", 8192),
            RmsNormEps = (float)c.GetDouble("rms_norm_eps", 1e-6),
            RopeTheta = c.GetDouble("rope_theta", 10000.0),
            QueryPreAttnScalar = c.GetDouble("query_pre_attn_scalar", 256),
            AttnLogitSoftcapping = softcap,
            SlidingWindow = window,
            SlidingLayers = sliding,
            HiddenActivation = act switch
            {
                "gelu_pytorch_tanh" or "gelu_new" => Activation.GeluTanh,
                "gelu" => Activation.Gelu,
                _ => throw new NotSupportedException($"{c.Path}: hidden_activation '{act}' is not supported (gelu_pytorch_tanh, gelu)"),
            },
            AttentionBias = c.GetBool("attention_bias", false),
        };
    }
}
