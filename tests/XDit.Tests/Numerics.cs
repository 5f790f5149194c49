using XDit.Engine.Verify;

namespace XDit.Tests;

/// <summary>Error measures used by every comparison test.</summary>
public static class Numerics
{
    /// <summary>‖a − b‖ / ‖b‖ (b is the reference).</summary>
    public static double RelativeError(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"lengths differ: {a.Length} vs {b.Length}");
        return FixtureVerifier.RelativeError(a, b);
    }

    public static double MaxAbsError(ReadOnlySpan<float> a, ReadOnlySpan<float> b) => FixtureVerifier.MaxAbsError(a, b);

    /// <summary>PSNR in dB of <paramref name="x"/> against <paramref name="reference"/>, the peak being the reference's
    /// range (latents have no fixed one); infinite when they are equal.</summary>
    public static double PsnrOverRange(float[] x, float[] reference)
    {
        double mse = 0;
        for (int i = 0; i < x.Length; i++) mse += (double)(x[i] - reference[i]) * (x[i] - reference[i]);
        mse /= x.Length;
        double range = reference.Max() - reference.Min();
        return mse == 0 ? double.PositiveInfinity : 10 * Math.Log10(range * range / mse);
    }

    /// <summary>Random floats in [-scale, scale), never all zero.</summary>
    public static float[] Random(int n, int seed, float scale = 1f)
    {
        var r = new Random(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)(r.NextDouble() * 2 - 1) * scale;
        return x;
    }
}
