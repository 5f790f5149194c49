using XDit.Kernels;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.Flux;

/// <summary>
/// How a Flux-style block computes its joint attention from the modulated image and text rows: the QKV GEMM per
/// stream, the q/k norms and RoPE, and the attention call with the sequence order and key masking of its model
/// (<see cref="FluxAttention.RunPacked"/>: [text; image]; HunyuanVideo's: [video; text] with padded text keys hidden).
/// The blocks around it are the same, so <see cref="FluxDoubleBlock"/> and <see cref="FluxSingleBlock"/> serve both.
/// Each stream's q and k norm weights come stacked [2, d] (<see cref="PackedQkv"/>).
/// </summary>
delegate AttentionResult JointAttentionRunner(IOps ops, IAttention attention, DitState state, string block, int heads,
    Tensor xHat, Linear qkv, Tensor qkNorm, Tensor cHat, Linear qkvText, Tensor qkNormText);
