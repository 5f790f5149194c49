using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Bert;

/// <summary>
/// The keys of a transformers BertConfig (config.json) that the encoder needs, with transformers' defaults.
/// HunyuanDiT's Chinese text encoder is such a BertModel; only absolute position embeddings are provided.
/// </summary>
public sealed record BertConfig
{
    public const string ClassName = "BertModel";

    public required string Path { get; init; }
    public required int VocabSize { get; init; }
    public required int HiddenSize { get; init; }
    public required int NumLayers { get; init; }
    public required int NumHeads { get; init; }
    public required int IntermediateSize { get; init; }
    public required int MaxPositions { get; init; }
    public required int TypeVocabSize { get; init; }
    public required float LayerNormEps { get; init; }
    public required Activation HiddenAct { get; init; }

    public int HeadDim => HiddenSize / NumHeads;

    public static BertConfig Load(string path) => From(JsonConfig.Load(path));

    public static BertConfig From(JsonConfig c)
    {
        string modelType = c.GetString("model_type", "bert")!;
        if (modelType != "bert")
            throw new NotSupportedException($"{c.Path}: model_type '{modelType}' is not supported by the BERT encoder (expected 'bert')");
        string positions = c.GetString("position_embedding_type", "absolute")!;
        if (positions != "absolute")
            throw new NotSupportedException($"{c.Path}: position_embedding_type '{positions}' is not supported (absolute)");
        int hidden = c.GetInt("hidden_size", 768), heads = c.GetInt("num_attention_heads", 12);
        if (heads < 1 || hidden % heads != 0)
            throw new FormatException($"{c.Path}: hidden_size {hidden} is not divisible by num_attention_heads {heads}");
        int layers = c.GetInt("num_hidden_layers", 12);
        if (layers < 1) throw new FormatException($"{c.Path}: num_hidden_layers {layers} must be at least 1");
        string act = c.GetString("hidden_act", "gelu")!;
        return new BertConfig
        {
            Path = c.Path,
            VocabSize = c.GetInt("vocab_size", 30522),
            HiddenSize = hidden,
            NumLayers = layers,
            NumHeads = heads,
            IntermediateSize = c.GetInt("intermediate_size", 3072),
            MaxPositions = c.GetInt("max_position_embeddings", 512),
            TypeVocabSize = c.GetInt("type_vocab_size", 2),
            LayerNormEps = (float)c.GetDouble("layer_norm_eps", 1e-12),
            HiddenAct = act switch
            {
                "gelu" => Activation.Gelu,
                "gelu_new" or "gelu_pytorch_tanh" => Activation.GeluTanh,
                "relu" => Activation.Relu,
                "silu" or "swish" => Activation.Silu,
                _ => throw new NotSupportedException($"{c.Path}: hidden_act '{act}' is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu, silu)"),
            },
        };
    }
}
