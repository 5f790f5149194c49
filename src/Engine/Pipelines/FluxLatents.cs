namespace XDit.Engine.Pipelines;

/// <summary>
/// The Flux pipeline's latent layout on host arrays: 2×2 latent patches packed into tokens
/// ([B, C, h, w] → [B, (h/2)(w/2), 4C], token (i, j) row-major, feature c·4 + dy·2 + dx), its exact inverse, and the
/// position ids the transformer's RoPE reads (image (0, row, col) on the packed grid, a Kontext reference image (1, row, col), text all zeros).
/// </summary>
public static class FluxLatents
{
    public static float[] Pack(float[] latents, int batch, int channels, int h, int w)
    {
        Check(latents.Length, batch, channels, h, w);
        int gh = h / 2, gw = w / 2, features = channels * 4;
        var packed = new float[latents.Length];
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < channels; c++)
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++)
                    {
                        int token = (y / 2) * gw + x / 2, feature = c * 4 + (y % 2) * 2 + x % 2;
                        packed[((long)b * gh * gw + token) * features + feature] = latents[(((long)b * channels + c) * h + y) * w + x];
                    }
        return packed;
    }

    public static float[] Unpack(float[] packed, int batch, int channels, int h, int w)
    {
        Check(packed.Length, batch, channels, h, w);
        int gw = w / 2, gh = h / 2, features = channels * 4;
        var latents = new float[packed.Length];
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < channels; c++)
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++)
                    {
                        int token = (y / 2) * gw + x / 2, feature = c * 4 + (y % 2) * 2 + x % 2;
                        latents[(((long)b * channels + c) * h + y) * w + x] = packed[((long)b * gh * gw + token) * features + feature];
                    }
        return latents;
    }

    /// <summary>img_ids [(h/2)(w/2), 3]: (<paramref name="first"/>, row, col) of each packed token, row-major. The
    /// first coordinate is 0 for the noisy image and 1 for Flux Kontext's reference image.</summary>
    public static float[] ImageIds(int h, int w, float first = 0)
    {
        int gh = h / 2, gw = w / 2;
        var ids = new float[gh * gw * 3];
        for (int i = 0; i < gh; i++)
            for (int j = 0; j < gw; j++)
            {
                int t = (i * gw + j) * 3;
                ids[t] = first;
                ids[t + 1] = i;
                ids[t + 2] = j;
            }
        return ids;
    }

    static void Check(int length, int batch, int channels, int h, int w)
    {
        if (h % 2 != 0 || w % 2 != 0) throw new ArgumentException($"Flux packs 2×2 latent patches: the latent size {h}x{w} must be even");
        if ((long)batch * channels * h * w != length)
            throw new ArgumentException($"latents hold {length} values, expected {batch}x{channels}x{h}x{w}");
    }
}
