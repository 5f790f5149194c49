using System.Text.Json;
using XDit.Models.Common.Layers;
using XDit.Runtime;

namespace XDit.Models.Mistral;

/// <summary>
/// The keys of a Llama-family decoder's config.json that its text stack needs, with transformers' defaults: the
/// <c>text_config</c> of a Mistral3ForConditionalGeneration config (model_type mistral3: Flux 2's Mistral Small 3.1,
/// run on text only), or a plain MistralConfig or LlamaConfig (HunyuanVideo's text encoder). Whatever the stack would
/// compute otherwise than a causal decoder with 1-D RoPE (RoPE scaling, other activations) is refused by file and key.
/// </summary>
public sealed record MistralTextConfig
{
    public const string ClassName = "Mistral3ForConditionalGeneration";
    /// <summary>The transformers classes whose text decoder this reads: Flux 2's wrapper and the bare decoders.</summary>
    public static readonly string[] ClassNames = [ClassName, "MistralModel", "LlamaModel"];
    /// <summary>The model_type values read: the multimodal wrapper and the two text decoders.</summary>
    public static readonly string[] ModelTypes = ["mistral3", "mistral", "llama"];

    public required string Path { get; init; }
    /// <summary>"mistral" or "llama": the text decoder's own model_type.</summary>
    public required string ModelType { get; init; }
    public required int VocabSize { get; init; }
    public required int NumLayers { get; init; }
    public required int MaxPositions { get; init; }
    public required double RopeTheta { get; init; }
    /// <summary>Mistral's sliding window: key j is seen by query i only when i − j &lt; window. Null: the whole
    /// causal prefix (Mistral Small 3.1, Llama).</summary>
    public required int? SlidingWindow { get; init; }
    public required LlamaDecoderDims Decoder { get; init; }

    public int HiddenSize => Decoder.HiddenSize;
    public int HeadDim => Decoder.HeadDim;

    public static MistralTextConfig Load(string path) => From(JsonConfig.Load(path));

    public static MistralTextConfig From(JsonConfig root)
    {
        string rootType = root.GetString("model_type", null) ?? "(none)";
        if (!ModelTypes.Contains(rootType))
            throw new NotSupportedException($"{root.Path}: model_type '{rootType}' is not supported by the Mistral/Llama text encoder (expected one of {string.Join(", ", ModelTypes.Select(t => $"'{t}'"))})");
        var c = root;
        string type = rootType;
        if (rootType == "mistral3")
        {
            if (!root.Has("text_config"))
                throw new NotSupportedException($"{root.Path}: a mistral3 config without text_config is not supported (expected the text decoder's keys under text_config)");
            c = JsonConfig.Parse(root.Get("text_config").GetRawText(), $"{root.Path} (text_config)");
            // Mistral3Config builds a MistralConfig when text_config names no model_type
            type = c.GetString("model_type", "mistral")!;
            if (type is not ("mistral" or "llama"))
                throw new NotSupportedException($"{c.Path}: model_type '{type}' is not supported (expected 'mistral' or 'llama')");
        }
        bool llama = type == "llama";

        int hidden = c.GetInt("hidden_size", 4096, 1, 1 << 20);
        int heads = c.GetInt("num_attention_heads", 32, 1, 4096);
        // MistralConfig defaults to 8 key/value heads, LlamaConfig to one per query head
        int kvHeads = c.Has("num_key_value_heads") ? c.GetIntIn("num_key_value_heads", 1, 4096) : llama ? heads : 8;
        if (heads % kvHeads != 0)
            throw new FormatException($"{c.Path}: num_attention_heads {heads} is not a multiple of num_key_value_heads {kvHeads}");
        // transformers: head_dim when given (and not null), else hidden_size / num_attention_heads
        int headDim = c.Has("head_dim") ? c.GetIntIn("head_dim", 1, 1 << 16) : hidden / heads;
        if (headDim % 2 != 0 || (!c.Has("head_dim") && hidden % heads != 0))
            throw new FormatException($"{c.Path}: head_dim {(c.Has("head_dim") ? headDim.ToString(System.Globalization.CultureInfo.InvariantCulture) : $"hidden_size {hidden} / num_attention_heads {heads}")} must be a whole even number (rotary embedding)");

        string act = c.GetString("hidden_act", "silu")!;
        if (act != "silu") throw new NotSupportedException($"{c.Path}: hidden_act '{act}' is not supported (expected 'silu')");

        double theta = c.GetDouble("rope_theta", 10000.0);
        // transformers 4.x writes rope_scaling (theta beside it); 5.x writes rope_parameters with rope_theta inside
        string ropeKey = c.Has("rope_parameters") ? "rope_parameters" : "rope_scaling";
        if (c.Has(ropeKey))
        {
            var rs = JsonConfig.Parse(c.Get(ropeKey).GetRawText(), $"{c.Path} ({ropeKey})");
            string ropeType = rs.GetString("rope_type", null) ?? rs.GetString("type", "default")!;
            if (ropeType != "default")
                throw new NotSupportedException($"{rs.Path}: rope_type '{ropeType}' is not supported (expected 'default': plain RoPE)");
            theta = rs.GetDouble("rope_theta", theta);
        }
        if (!(theta > 0) || double.IsInfinity(theta)) throw new FormatException($"{c.Path}: rope_theta {theta} must be a positive number");
        if (c.GetDouble("partial_rotary_factor", 1.0) != 1.0)
            throw new NotSupportedException($"{c.Path}: partial_rotary_factor {c.GetDouble("partial_rotary_factor")} is not supported (expected 1)");

        int? window = null;
        if (!llama)
        {
            // MistralConfig's default is a 4096-token window: only an explicit null turns it off
            bool present = c.Root.TryGetProperty("sliding_window", out var sw);
            if (!present) window = 4096;
            else if (sw.ValueKind != JsonValueKind.Null) window = c.GetIntIn("sliding_window", 1, int.MaxValue);
        }
        bool attentionBias = llama && c.GetBool("attention_bias", false);
        bool mlpBias = llama && c.GetBool("mlp_bias", false);

        return new MistralTextConfig
        {
            Path = c.Path,
            ModelType = type,
            VocabSize = c.GetInt("vocab_size", 32000, 1, int.MaxValue),
            NumLayers = c.GetInt("num_hidden_layers", 32, 1, 4096),
            MaxPositions = c.GetInt("max_position_embeddings", llama ? 2048 : 4096 * 32, 1, int.MaxValue),
            RopeTheta = theta,
            SlidingWindow = window,
            Decoder = new LlamaDecoderDims
            {
                HiddenSize = hidden,
                IntermediateSize = c.GetInt("intermediate_size", llama ? 11008 : 14336, 1, 1 << 24),
                NumHeads = heads,
                NumKeyValueHeads = kvHeads,
                HeadDim = headDim,
                RmsNormEps = (float)c.GetDouble("rms_norm_eps", 1e-6),
                QkvBias = attentionBias,
                OutputBias = attentionBias,
                MlpBias = mlpBias,
            },
        };
    }
}
