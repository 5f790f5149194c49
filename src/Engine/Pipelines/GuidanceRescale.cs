namespace XDit.Engine.Pipelines;

/// <summary>diffusers rescale_noise_cfg ("Common Diffusion Noise Schedules and Sample Steps are Flawed", §3.4): each
/// guided row is mixed, by the factor φ, with itself scaled to the standard deviation of the positive prediction:
/// out = φ·g·(σ_text/σ_g) + (1 − φ)·g, σ over all of a row's values, unbiased (torch's std).</summary>
public static class GuidanceRescale
{
    /// <summary><paramref name="noise"/> [batch, channels, spatial] holds the guided predictions; the positive
    /// predictions are the last <paramref name="batch"/> rows of <paramref name="output"/> [2·batch, outChannels,
    /// spatial] (their first <paramref name="channels"/> channels).</summary>
    public static void Apply(float[] output, float[] noise, int batch, int outChannels, int channels, int spatial, float factor)
    {
        int n = channels * spatial;
        for (int b = 0; b < batch; b++)
        {
            var guided = noise.AsSpan(b * n, n);
            var text = output.AsSpan((batch + b) * outChannels * spatial, n);
            double ratio = Std(text) / Std(guided);
            for (int i = 0; i < n; i++)
            {
                float g = guided[i];
                guided[i] = (float)(factor * (g * ratio) + (1 - factor) * g);
            }
        }
    }

    static double Std(ReadOnlySpan<float> v)
    {
        double mean = 0;
        foreach (var x in v) mean += x;
        mean /= v.Length;
        double sum = 0;
        foreach (var x in v) sum += (x - mean) * (x - mean);
        return Math.Sqrt(sum / Math.Max(1, v.Length - 1));
    }
}
