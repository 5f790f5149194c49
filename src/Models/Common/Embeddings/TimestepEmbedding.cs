using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Embeddings;

/// <summary>
/// diffusers Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=0) followed by TimestepEmbedding:
/// linear_1 [D, 256] + b → SiLU → linear_2 [D, D] + b. Used for timesteps, Flux guidance and PixArt's
/// micro-conditions.
/// </summary>
public sealed class TimestepEmbedding
{
    public const int SinusoidChannels = 256;

    readonly Linear _linear1, _linear2;

    public TimestepEmbedding(Linear linear1, Linear linear2) { _linear1 = linear1; _linear2 = linear2; }

    public static TimestepEmbedding Load(WeightScope w, int outDim, int inDim = SinusoidChannels)
        => new(w.Linear("linear_1", inDim, outDim), w.Linear("linear_2", outDim, outDim));

    public int InFeatures => _linear1.InFeatures;

    /// <summary>The sinusoid [n, 256] of each value (computed in float32, as diffusers does), cast to the
    /// activation dtype.</summary>
    public static Tensor Sinusoid(IOps ops, ReadOnlySpan<float> values, int channels = SinusoidChannels)
    {
        var s = ops.TimestepEmbedding(values, channels, flipSinToCos: true, downscaleFreqShift: 0f);
        if (s.DType == ops.ActivationType) return s;
        using (s) return ops.Cast(s, ops.ActivationType);
    }

    /// <summary>MLP of an already computed sinusoid [n, in] → [n, D].</summary>
    public Tensor Apply(IOps ops, Tensor sinusoid)
    {
        using var h = _linear1.Apply(ops, sinusoid, Activation.Silu);
        return _linear2.Apply(ops, h);
    }

    /// <summary>Sinusoid then MLP of each value → [n, D].</summary>
    public Tensor Embed(IOps ops, ReadOnlySpan<float> values)
    {
        using var s = Sinusoid(ops, values, InFeatures);
        return Apply(ops, s);
    }

    /// <summary>Rounds values to <paramref name="dtype"/> as a tensor cast would (the models multiply timesteps by
    /// 1000 in the activation dtype, so bf16/fp16 rounding is part of the result).</summary>
    public static float RoundTo(DType dtype, float x) => dtype switch
    {
        DType.BF16 => DTypeConvert.BFloat16ToSingle(DTypeConvert.SingleToBFloat16(x)),
        DType.F16 => (float)(Half)x,
        _ => x,
    };
}
