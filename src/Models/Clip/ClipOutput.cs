using XDit.Runtime;

namespace XDit.Models.Clip;

/// <summary>What a CLIP text model returns; owns its tensors.</summary>
public sealed class ClipOutput : IDisposable
{
    /// <summary>final_layer_norm of the last layer's output [B, S, W].</summary>
    public required Tensor LastHiddenState { get; init; }
    /// <summary>hidden_states[-2]: the input of the last layer, without the final norm [B, S, W] (SD3's prompt
    /// features); with a clip_skip k, hidden_states[-(k + 2)].</summary>
    public required Tensor PenultimateHiddenState { get; init; }
    /// <summary>LastHiddenState at each row's EOS position [B, W] (pooler_output).</summary>
    public required Tensor Pooled { get; init; }
    /// <summary>Pooled · text_projectionᵀ [B, P] for CLIPTextModelWithProjection, else null.</summary>
    public Tensor? TextEmbeds { get; init; }

    public void Dispose()
    {
        LastHiddenState.Dispose();
        PenultimateHiddenState.Dispose();
        Pooled.Dispose();
        TextEmbeds?.Dispose();
    }
}
