namespace XDit.Engine.Pipelines;

/// <summary>
/// LTXPipeline's _pack_latents / _unpack_latents at patch size 1 (every LTX-Video checkpoint's): the video latents
/// [B, C, F, h, w] as tokens [B, F·h·w, C] in (frame, row, column) order, and back.
/// </summary>
public static class LtxLatents
{
    public static float[] Pack(float[] latents, int batch, int channels, int frames, int h, int w)
    {
        int tokens = frames * h * w;
        Check(latents, batch, channels, tokens);
        var packed = new float[latents.Length];
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < channels; c++)
            {
                int from = (b * channels + c) * tokens, to = b * tokens * channels + c;
                for (int t = 0; t < tokens; t++) packed[to + t * channels] = latents[from + t];
            }
        return packed;
    }

    public static float[] Unpack(float[] packed, int batch, int channels, int frames, int h, int w)
    {
        int tokens = frames * h * w;
        Check(packed, batch, channels, tokens);
        var latents = new float[packed.Length];
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < channels; c++)
            {
                int to = (b * channels + c) * tokens, from = b * tokens * channels + c;
                for (int t = 0; t < tokens; t++) latents[to + t] = packed[from + t * channels];
            }
        return latents;
    }

    static void Check(float[] values, int batch, int channels, int tokens)
    {
        if (values.Length != (long)batch * channels * tokens)
            throw new ArgumentException($"LTX latents hold {values.Length} values, expected batch {batch} × channels {channels} × tokens {tokens}");
    }
}
