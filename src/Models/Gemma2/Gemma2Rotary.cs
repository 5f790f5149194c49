namespace XDit.Models.Gemma2;

/// <summary>The rotary tables of Gemma 2 (rotate-half layout): inv_freq_i = 1/θ^(2i/d) and angle p·inv_freq_i for
/// position p, repeated over both halves, in float32 as transformers computes them.</summary>
public static class Gemma2Rotary
{
    /// <summary>cos and sin tables [seqLen, headDim] (row-major) for positions 0 … seqLen − 1.</summary>
    public static (float[] Cos, float[] Sin) Tables(int headDim, double theta, int seqLen)
    {
        int half = headDim / 2;
        var invFreq = new float[half];
        for (int i = 0; i < half; i++) invFreq[i] = 1f / MathF.Pow((float)theta, (float)(2 * i) / headDim);
        var cos = new float[seqLen * headDim];
        var sin = new float[seqLen * headDim];
        for (int p = 0; p < seqLen; p++)
            for (int i = 0; i < half; i++)
            {
                float angle = p * invFreq[i];
                float c = MathF.Cos(angle), s = MathF.Sin(angle);
                cos[p * headDim + i] = cos[p * headDim + half + i] = c;
                sin[p * headDim + i] = sin[p * headDim + half + i] = s;
            }
        return (cos, sin);
    }
}
