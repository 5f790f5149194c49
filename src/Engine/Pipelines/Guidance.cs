namespace XDit.Engine.Pipelines;

/// <summary>Classifier-free guidance on model output rows laid out [negative rows; positive rows].</summary>
public static class Guidance
{
    /// <summary>
    /// output [rows, outChannels, spatial] → noise [batch, channels, spatial]: u + g·(c − u) under guidance
    /// (rows = 2·batch), the output itself otherwise; only the first <paramref name="channels"/> output channels
    /// are kept (PixArt's learned-sigma channels are dropped).
    /// </summary>
    public static void Combine(float[] output, float[] noise, int batch, bool cfg, float scale, int outChannels, int channels, int spatial)
    {
        int outRow = outChannels * spatial, noiseRow = channels * spatial;
        for (int b = 0; b < batch; b++)
            for (int ch = 0; ch < channels; ch++)
            {
                int o = b * outRow + ch * spatial, n = b * noiseRow + ch * spatial;
                int oc = (cfg ? batch + b : b) * outRow + ch * spatial;
                for (int j = 0; j < spatial; j++)
                {
                    float cond = output[oc + j];
                    noise[n + j] = cfg ? output[o + j] + scale * (cond - output[o + j]) : cond;
                }
            }
    }
}
