namespace XDit.Models.Common.Layers;

/// <summary>Plain (1-D) rotary tables in the rotate-half layout of the Llama family: inv_freq_i = 1/θ^(2i/d) and
/// angle p·inv_freq_i for position p, the same angle in both halves of the head, in float32 as transformers'
/// default rope computes them (its inv_freq is a float32 power, the angle a float32 product).</summary>
public static class RopeTables
{
    /// <summary>cos and sin [positions.Length, headDim] (row-major).</summary>
    public static (float[] Cos, float[] Sin) Of(int headDim, double theta, ReadOnlySpan<long> positions)
    {
        if (headDim < 2 || headDim % 2 != 0) throw new ArgumentOutOfRangeException(nameof(headDim), headDim, "must be even and at least 2");
        int half = headDim / 2, n = positions.Length;
        var invFreq = new float[half];
        for (int i = 0; i < half; i++) invFreq[i] = 1f / MathF.Pow((float)theta, (float)(2 * i) / headDim);
        var cos = new float[n * headDim];
        var sin = new float[n * headDim];
        for (int p = 0; p < n; p++)
            for (int i = 0; i < half; i++)
            {
                float angle = positions[p] * invFreq[i];
                float c = MathF.Cos(angle), s = MathF.Sin(angle);
                cos[p * headDim + i] = cos[p * headDim + half + i] = c;
                sin[p * headDim + i] = sin[p * headDim + half + i] = s;
            }
        return (cos, sin);
    }

    /// <summary>The tables of positions 0 … seqLen − 1.</summary>
    public static (float[] Cos, float[] Sin) Sequential(int headDim, double theta, int seqLen)
    {
        var positions = new long[seqLen];
        for (int i = 0; i < seqLen; i++) positions[i] = i;
        return Of(headDim, theta, positions);
    }
}
