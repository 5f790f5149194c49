using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Common.Layers;

/// <summary>The additive key bias that hides a tokenizer's padded tokens from attention, for
/// <see cref="AttentionOptions.KeyBias"/>: 0 on real tokens, the activation dtype's most negative finite value on
/// padding (the value transformers fills its masks with, so a row sees the same keys in every dtype).</summary>
public static class PaddedKeyBias
{
    /// <summary>[B, S] from a 0/1 attention mask [B·S] (row-major), or null when no key is padded.</summary>
    public static Tensor? From(IOps ops, long[]? mask, int batch, int seqLen)
    {
        if (mask is null || Array.TrueForAll(mask, m => m != 0)) return null;
        if (mask.Length != batch * seqLen)
            throw new ArgumentException($"attention mask has {mask.Length} entries, expected batch {batch} × length {seqLen}", nameof(mask));
        float neg = ops.ActivationType switch { DType.F16 => -65504f, DType.BF16 => -3.3895314e38f, _ => float.MinValue };
        var bias = new float[mask.Length];
        for (int i = 0; i < mask.Length; i++) bias[i] = mask[i] != 0 ? 0f : neg;
        return ops.FromHost(bias, batch, seqLen);
    }
}
