using System.Text.Json;
using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Clip;

/// <summary>
/// The keys of a transformers CLIP text config.json. Accepts a text-only config (model_type clip_text_model, as the
/// diffusers text_encoder folders hold) or a full CLIPModel config, whose "text_config" holds the text keys.
/// </summary>
public sealed record ClipTextConfig
{
    public required string Path { get; init; }
    /// <summary>"CLIPTextModel" or "CLIPTextModelWithProjection".</summary>
    public required string Architecture { get; init; }
    public required int HiddenSize { get; init; }
    public required int IntermediateSize { get; init; }
    public required int NumLayers { get; init; }
    public required int NumHeads { get; init; }
    public required int MaxPositions { get; init; }
    public required int VocabSize { get; init; }
    public required float LayerNormEps { get; init; }
    public required Activation HiddenAct { get; init; }
    public required long EosTokenId { get; init; }
    /// <summary>Width of text_projection's output (WithProjection only).</summary>
    public required int ProjectionDim { get; init; }

    public bool HasProjection => Architecture == "CLIPTextModelWithProjection";
    public int HeadDim => HiddenSize / NumHeads;

    public static readonly string[] SupportedArchitectures = ["CLIPTextModel", "CLIPTextModelWithProjection"];

    public static ClipTextConfig Load(string path) => From(JsonConfig.Load(path));

    public static ClipTextConfig From(JsonConfig c)
    {
        string? arch = null;
        if (c.Has("architectures"))
            arch = c.Get("architectures").EnumerateArray().Select(e => e.GetString()).FirstOrDefault();
        arch ??= "CLIPTextModel";
        if (!SupportedArchitectures.Contains(arch))
            throw new NotSupportedException($"{c.Path}: architecture '{arch}' is not supported, expected one of {string.Join(", ", SupportedArchitectures)}");

        // A full CLIPModel config nests the text keys; projection_dim sits at the top level there.
        var t = c;
        if (c.Has("text_config") && c.Get("text_config").ValueKind == JsonValueKind.Object)
            t = JsonConfig.Parse(c.Get("text_config").GetRawText(), c.Path + " (text_config)");

        int hidden = t.GetInt("hidden_size", 512, 1, ConfigBounds.Width), heads = t.GetInt("num_attention_heads", 8, 1, ConfigBounds.Heads);
        if (hidden % heads != 0)
            throw new FormatException($"{t.Path}: hidden_size {hidden} is not divisible by num_attention_heads {heads}");

        int layers = t.GetInt("num_hidden_layers", 12, 1, ConfigBounds.Layers);
        if (layers < 1) throw new FormatException($"{t.Path}: num_hidden_layers {layers} must be at least 1");

        return new ClipTextConfig
        {
            Path = c.Path,
            Architecture = arch,
            HiddenSize = hidden,
            IntermediateSize = t.GetInt("intermediate_size", 2048, 1, ConfigBounds.Width),
            NumLayers = layers,
            NumHeads = heads,
            MaxPositions = t.GetInt("max_position_embeddings", 77, 1, ConfigBounds.Positions),
            VocabSize = t.GetInt("vocab_size", 49408, 1, ConfigBounds.Vocab),
            LayerNormEps = (float)t.GetPositiveDouble("layer_norm_eps", 1e-5),
            HiddenAct = ParseAct(t),
            EosTokenId = t.GetInt("eos_token_id", 2),
            ProjectionDim = t.Has("projection_dim") ? t.GetIntIn("projection_dim", 1, ConfigBounds.Width) : c.GetInt("projection_dim", 512, 1, ConfigBounds.Width),
        };
    }

    static Activation ParseAct(JsonConfig t)
    {
        var act = t.GetString("hidden_act", "quick_gelu");
        return act switch
        {
            "quick_gelu" => Activation.QuickGelu,
            "gelu" => Activation.Gelu,
            "gelu_new" or "gelu_pytorch_tanh" => Activation.GeluTanh,
            "relu" => Activation.Relu,
            _ => throw new NotSupportedException($"{t.Path}: hidden_act '{act}' is not supported (quick_gelu, gelu, gelu_new, gelu_pytorch_tanh, relu)"),
        };
    }
}
