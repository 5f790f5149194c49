using System.Numerics.Tensors;

namespace XDit.Kernels.Cpu;

/// <summary>Scalar definitions of the activations (PyTorch's formulas) and their application to a span.</summary>
internal static class ActivationMath
{
    const double InvSqrt2 = 0.70710678118654752440;
    const float SqrtTwoOverPi = 0.7978845608028654f;

    public static void Apply(Span<float> x, Activation act)
    {
        switch (act)
        {
            case Activation.None: return;
            case Activation.Relu: TensorPrimitives.Max(x, 0f, x); return;
            case Activation.Tanh: TensorPrimitives.Tanh(x, x); return;
            case Activation.Gelu:
                for (int i = 0; i < x.Length; i++) x[i] = Gelu(x[i]);
                return;
            case Activation.Silu or Activation.QuickGelu or Activation.GeluTanh:
                // Vectorised through TensorPrimitives, a stack chunk at a time.
                Span<float> tmp = stackalloc float[256];
                for (int i = 0; i < x.Length; i += tmp.Length)
                {
                    var c = x.Slice(i, Math.Min(tmp.Length, x.Length - i));
                    var t = tmp[..c.Length];
                    if (act == Activation.GeluTanh)
                    {
                        // ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
                        TensorPrimitives.Multiply(c, c, t);
                        TensorPrimitives.Multiply(t, 0.044715f * SqrtTwoOverPi, t);
                        TensorPrimitives.Add(t, SqrtTwoOverPi, t);
                        TensorPrimitives.Multiply(t, c, t);
                        TensorPrimitives.Tanh(t, t);
                        TensorPrimitives.Add(t, 1f, t);
                        TensorPrimitives.Multiply(t, 0.5f, t);
                    }
                    else
                    {
                        // x·σ(x) or x·σ(1.702·x)
                        if (act == Activation.QuickGelu) TensorPrimitives.Multiply(c, 1.702f, t); else c.CopyTo(t);
                        TensorPrimitives.Sigmoid(t, t);
                    }
                    TensorPrimitives.Multiply(c, t, c);
                }
                return;
            default: throw new ArgumentOutOfRangeException(nameof(act), act, "unknown activation");
        }
    }

    public static float Silu(float x) => x / (1f + MathF.Exp(-x));
    public static float QuickGelu(float x) => x / (1f + MathF.Exp(-1.702f * x));
    public static float GeluTanh(float x) => 0.5f * x * (1f + MathF.Tanh(SqrtTwoOverPi * (x + 0.044715f * x * x * x)));

    /// <summary>Exact GELU, x·Φ(x) = ½·x·erfc(−x/√2), evaluated in double.</summary>
    public static float Gelu(float x) => (float)(0.5 * x * Erfc(-x * InvSqrt2));

    /// <summary>Complementary error function with relative error below 1.2e-7 everywhere
    /// (Chebyshev fit of Numerical Recipes §6.2), enough for a float32 result.</summary>
    public static double Erfc(double x)
    {
        double z = Math.Abs(x);
        double t = 1.0 / (1.0 + 0.5 * z);
        double r = t * Math.Exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
            t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
            t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? r : 2.0 - r;
    }
}
