using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models;

/// <summary>
/// The additive attention bias that hides padded text tokens from cross-attention, from a caption's 0/1 mask, as
/// diffusers' PixArt and SANA transformers turn encoder_attention_mask into (1 − m)·(−10000).
/// </summary>
public static class TextKeyBias
{
    public const float PaddedKeyBias = -10000f;

    /// <summary>The bias [B, T] for <paramref name="mask"/> [B, T] (1 kept, 0 padded), checked against the batch and
    /// text length the model was given (the message names <paramref name="model"/>).</summary>
    public static Tensor FromMask(IOps ops, Tensor mask, int batch, int textTokens, string model)
    {
        if (mask.Rank != 2 || mask.Dim(0) != batch || mask.Dim(1) != textTokens)
            throw new ArgumentException($"{model} encoder_attention_mask must be [{batch}, {textTokens}]; got {Shape.Format(mask.ShapeSpan)}");
        var m = ops.ToHost(mask);
        var bias = new float[m.Length];
        for (int i = 0; i < m.Length; i++) bias[i] = (1f - m[i]) * PaddedKeyBias;
        return ops.FromHost(bias, mask.Dims);
    }
}
