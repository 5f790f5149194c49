namespace XDit.Models.Common.Layers;

/// <summary>
/// The sizes and switches of one Llama-family decoder layer (<see cref="LlamaDecoderLayer"/>), which the text
/// encoders built on it share: Llama and Mistral (no biases, or all four attention projections biased by Llama's
/// attention_bias), Qwen2 (biases on q/k/v only). head_dim is separate from hidden_size / heads because Mistral
/// Small's is not that quotient (5120 hidden, 32 heads of 128).
/// </summary>
public sealed record LlamaDecoderDims
{
    public required int HiddenSize { get; init; }
    public required int IntermediateSize { get; init; }
    public required int NumHeads { get; init; }
    public required int NumKeyValueHeads { get; init; }
    public required int HeadDim { get; init; }
    public required float RmsNormEps { get; init; }
    /// <summary>q_proj, k_proj and v_proj carry biases (Qwen2; Llama's attention_bias).</summary>
    public bool QkvBias { get; init; }
    /// <summary>o_proj carries a bias (Llama's attention_bias; never Qwen2 or Mistral).</summary>
    public bool OutputBias { get; init; }
    /// <summary>gate_proj, up_proj and down_proj carry biases (Llama's mlp_bias).</summary>
    public bool MlpBias { get; init; }

    /// <summary>How many query heads read each key/value head.</summary>
    public int KeyValueGroups => NumHeads / NumKeyValueHeads;
}
