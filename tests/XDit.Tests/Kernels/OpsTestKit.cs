using XDit.Runtime;

namespace XDit.Tests.Kernels;

/// <summary>Inputs for op tests: random non-zero tensors, optionally as strided views of a larger buffer, and the
/// comparison against a naive reference.</summary>
internal static class OpsTestKit
{
    public static Tensor Rand(int seed, params int[] shape) => Tensor.FromArray(Numerics.Random((int)Shape.Product(shape), seed), shape);

    public static Tensor Rand(int seed, float scale, params int[] shape) => Tensor.FromArray(Numerics.Random((int)Shape.Product(shape), seed, scale), shape);

    /// <summary>A random tensor of the given logical shape that is not contiguous: the last two axes are stored
    /// transposed (inner stride ≠ 1) for rank ≥ 2, or every other element for rank 1.</summary>
    public static Tensor RandStrided(int seed, params int[] shape)
    {
        if (shape.Length == 1)
        {
            var big = Rand(seed, shape[0] * 2);
            return new Tensor(big.Storage, DType.F32, shape, [2], offset: 1);
        }
        var stored = (int[])shape.Clone();
        (stored[^1], stored[^2]) = (stored[^2], stored[^1]);
        var perm = Enumerable.Range(0, shape.Length).ToArray();
        (perm[^1], perm[^2]) = (perm[^2], perm[^1]);
        return Rand(seed, stored).Permute(perm);
    }

    public static Tensor Input(bool strided, int seed, params int[] shape) => strided ? RandStrided(seed, shape) : Rand(seed, shape);

    /// <summary>Asserts ‖actual − expected‖/‖expected‖ ≤ tol (expected computed in double by a naive loop).</summary>
    public static void Close(double[] expected, float[] actual, double tol = 1e-5)
    {
        Assert.Equal(expected.Length, actual.Length);
        double num = 0, den = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.False(double.IsNaN(actual[i]), $"NaN at {i}");
            double d = actual[i] - expected[i];
            num += d * d;
            den += expected[i] * expected[i];
        }
        Assert.True(den > 0, "reference is all zeros: the test cannot fail");
        double rel = Math.Sqrt(num / den);
        Assert.True(rel <= tol, $"relative error {rel:E3} > {tol:E1}");
    }

    public static void Close(float[] expected, float[] actual, double tol = 1e-5) => Close(expected.Select(v => (double)v).ToArray(), actual, tol);

    /// <summary>erf by Simpson's rule on 2/√π·e^(−t²) (error below 1e-9 for |x| ≤ 8, exactly ±1 beyond).</summary>
    public static double Erf(double x)
    {
        if (Math.Abs(x) > 8) return Math.Sign(x);
        const int n = 600;
        double h = x / n, sum = 1 + Math.Exp(-x * x);
        for (int i = 1; i < n; i++) sum += (i % 2 == 1 ? 4 : 2) * Math.Exp(-(i * h) * (i * h));
        return 2 / Math.Sqrt(Math.PI) * sum * h / 3;
    }

    public static double Act(double x, XDit.Kernels.Activation act) => act switch
    {
        XDit.Kernels.Activation.None => x,
        XDit.Kernels.Activation.Relu => Math.Max(0, x),
        XDit.Kernels.Activation.Tanh => Math.Tanh(x),
        XDit.Kernels.Activation.Silu => x / (1 + Math.Exp(-x)),
        XDit.Kernels.Activation.QuickGelu => x / (1 + Math.Exp(-1.702 * x)),
        XDit.Kernels.Activation.Gelu => 0.5 * x * (1 + Erf(x / Math.Sqrt(2))),
        XDit.Kernels.Activation.GeluTanh => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x))),
        _ => throw new ArgumentOutOfRangeException(nameof(act)),
    };
}
