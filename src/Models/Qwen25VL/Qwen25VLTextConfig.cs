using XDit.Models.Common.Layers;
using XDit.Runtime;

namespace XDit.Models.Qwen25VL;

/// <summary>
/// The keys of a transformers Qwen2_5_VLConfig (config.json, model_type qwen2_5_vl) that its text decoder needs,
/// with transformers' defaults. Newer transformers nest the text keys under <c>text_config</c>; older files (the
/// Qwen-Image repository's text_encoder/) keep them at the top level: both are read. Only text input is run (as
/// QwenImagePipeline calls the model), so the vision tower is not loaded and anything the decoder would do
/// differently from a plain causal Qwen2 stack (sliding windows, other RoPE types) is refused by file and key.
/// </summary>
public sealed record Qwen25VLTextConfig
{
    public const string ClassName = "Qwen2_5_VLForConditionalGeneration";
    public const string ModelType = "qwen2_5_vl";

    public required string Path { get; init; }
    public required int VocabSize { get; init; }
    public required int HiddenSize { get; init; }
    public required int IntermediateSize { get; init; }
    public required int NumLayers { get; init; }
    public required int NumHeads { get; init; }
    public required int NumKeyValueHeads { get; init; }
    public required int MaxPositions { get; init; }
    public required float RmsNormEps { get; init; }
    public required double RopeTheta { get; init; }
    /// <summary>How many of the head_dim/2 rotary frequencies each position axis (temporal, height, width) drives,
    /// in that order; they sum to head_dim/2.</summary>
    public required int[] MropeSection { get; init; }

    public int HeadDim => HiddenSize / NumHeads;
    public int KeyValueGroups => NumHeads / NumKeyValueHeads;

    /// <summary>The decoder layers' sizes: Qwen2's biases on q/k/v, none on o_proj or the MLP.</summary>
    public LlamaDecoderDims Decoder => new()
    {
        HiddenSize = HiddenSize, IntermediateSize = IntermediateSize, NumHeads = NumHeads, NumKeyValueHeads = NumKeyValueHeads,
        HeadDim = HeadDim, RmsNormEps = RmsNormEps, QkvBias = true,
    };

    public static Qwen25VLTextConfig Load(string path) => From(JsonConfig.Load(path));

    public static Qwen25VLTextConfig From(JsonConfig root)
    {
        string modelType = root.GetString("model_type", null) ?? "(none)";
        if (modelType != ModelType)
            throw new NotSupportedException($"{root.Path}: model_type '{modelType}' is not supported by the Qwen2.5-VL text encoder (expected '{ModelType}')");
        var c = root.Has("text_config")
            ? JsonConfig.Parse(root.Get("text_config").GetRawText(), $"{root.Path} (text_config)")
            : root;

        int hidden = c.GetInt("hidden_size", 3584), heads = c.GetInt("num_attention_heads", 28), kvHeads = c.GetInt("num_key_value_heads", 4);
        if (heads < 1 || kvHeads < 1 || heads % kvHeads != 0)
            throw new FormatException($"{c.Path}: num_attention_heads {heads} is not a multiple of num_key_value_heads {kvHeads}");
        if (hidden % heads != 0 || hidden / heads % 2 != 0)
            throw new FormatException($"{c.Path}: hidden_size {hidden} over num_attention_heads {heads} must give an even head dim (rotary embedding)");
        int layers = c.GetInt("num_hidden_layers", 28);
        if (layers < 1) throw new FormatException($"{c.Path}: num_hidden_layers {layers} must be at least 1");

        string act = c.GetString("hidden_act", "silu")!;
        if (act != "silu") throw new NotSupportedException($"{c.Path}: hidden_act '{act}' is not supported (expected 'silu')");
        if (c.GetBool("use_sliding_window", false))
            throw new NotSupportedException($"{c.Path}: use_sliding_window true is not supported (expected false: every layer attends to the whole causal prefix)");
        if (c.Has("layer_types"))
            foreach (var t in c.GetStringArray("layer_types"))
                if (t != "full_attention")
                    throw new NotSupportedException($"{c.Path}: layer_types entry '{t}' is not supported (expected 'full_attention')");

        int headDim = hidden / heads;
        if (c.Has("head_dim") && c.GetInt("head_dim") != headDim)
            throw new NotSupportedException($"{c.Path}: head_dim {c.GetInt("head_dim")} is not supported (expected hidden_size / num_attention_heads = {headDim})");
        int[] section = [headDim / 2, 0, 0];   // no mrope_section: plain RoPE, which is every frequency on one axis
        double theta = c.GetDouble("rope_theta", 1000000.0);
        // transformers 4.x writes rope_scaling (theta beside it); 5.x writes rope_parameters with rope_theta inside
        string ropeKey = c.Has("rope_parameters") ? "rope_parameters" : "rope_scaling";
        if (c.Has(ropeKey))
        {
            var rs = JsonConfig.Parse(c.Get(ropeKey).GetRawText(), $"{c.Path} ({ropeKey})");
            string type = rs.GetString("rope_type", null) ?? rs.GetString("type", "default")!;
            if (type is not ("default" or "mrope"))
                throw new NotSupportedException($"{rs.Path}: rope_type '{type}' is not supported (expected 'default' or 'mrope')");
            if (rs.GetBool("mrope_interleaved", false))
                throw new NotSupportedException($"{rs.Path}: mrope_interleaved true is not supported (expected false: Qwen2.5-VL's contiguous sections)");
            if (rs.GetDouble("partial_rotary_factor", 1.0) != 1.0)
                throw new NotSupportedException($"{rs.Path}: partial_rotary_factor {rs.GetDouble("partial_rotary_factor")} is not supported (expected 1)");
            theta = rs.GetDouble("rope_theta", theta);
            if (rs.Has("mrope_section"))
            {
                section = rs.GetIntArray("mrope_section");
                if (section.Length != 3 || section.Any(s => s < 0) || section.Sum() != headDim / 2)
                    throw new FormatException($"{rs.Path}: mrope_section [{string.Join(", ", section)}] must be 3 non-negative entries summing to head_dim/2 = {headDim / 2}");
            }
        }
        if (!(theta > 0) || double.IsInfinity(theta)) throw new FormatException($"{c.Path}: rope_theta {theta} must be a positive number");

        return new Qwen25VLTextConfig
        {
            Path = c.Path,
            VocabSize = c.GetInt("vocab_size", 152064),
            HiddenSize = hidden,
            IntermediateSize = c.GetInt("intermediate_size", 18944),
            NumLayers = layers,
            NumHeads = heads,
            NumKeyValueHeads = kvHeads,
            MaxPositions = c.GetInt("max_position_embeddings", 128000),
            RmsNormEps = (float)c.GetDouble("rms_norm_eps", 1e-6),
            RopeTheta = theta,
            MropeSection = section,
        };
    }
}
