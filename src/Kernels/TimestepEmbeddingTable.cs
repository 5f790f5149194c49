namespace XDit.Kernels;

/// <summary>
/// diffusers' get_timestep_embedding on the host, in float32 step by step in the order diffusers computes it, so
/// large timesteps round the same way. Both backends use it (the table is tiny; CUDA uploads it).
/// </summary>
public static class TimestepEmbeddingTable
{
    /// <summary>[t.Length, dim] row-major; an odd dim leaves the last column zero (as diffusers pads).</summary>
    public static float[] Compute(ReadOnlySpan<float> t, int dim, bool flipSinToCos, float downscaleFreqShift, float scale, float maxPeriod)
    {
        if (dim <= 0) throw new ArgumentOutOfRangeException(nameof(dim), $"TimestepEmbedding: dim must be positive, got {dim}");
        int half = dim / 2;
        var e = new float[t.Length * dim];
        float logPeriod = (float)-Math.Log(maxPeriod);
        for (int k = 0; k < half; k++)
        {
            float freq = MathF.Exp(logPeriod * k / (half - downscaleFreqShift));
            for (int n = 0; n < t.Length; n++)
            {
                float a = t[n] * freq;
                if (scale != 1f) a *= scale;
                float s = MathF.Sin(a), c = MathF.Cos(a);
                e[n * dim + k] = flipSinToCos ? c : s;
                e[n * dim + half + k] = flipSinToCos ? s : c;
            }
        }
        return e;
    }
}
