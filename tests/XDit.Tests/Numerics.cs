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

    /// <summary>Random floats in [-scale, scale), never all zero.</summary>
    public static float[] Random(int n, int seed, float scale = 1f)
    {
        var r = new Random(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)(r.NextDouble() * 2 - 1) * scale;
        return x;
    }
}
