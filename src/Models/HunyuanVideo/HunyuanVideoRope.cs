namespace XDit.Models.HunyuanVideo;

/// <summary>
/// diffusers HunyuanVideoRotaryPosEmbed: per video token (frame group f, row y, column x, in that order) one row of
/// head_dim features; axis a (frame, height, width) of width d_a takes the next d_a features, pair k at angle
/// pos_a · θ^(−2k/d_a), cos and sin each written twice (channels 2k and 2k+1: apply_rotary_emb's interleaved pairs).
/// get_1d_rotary_pos_embed computes the frequencies, angles and cos/sin in float32; so does this. The text tokens
/// get no rotation.
/// </summary>
public static class HunyuanVideoRope
{
    /// <summary>Host tables cos, sin [frames·rows·cols, Σ d_a].</summary>
    public static (float[] Cos, float[] Sin) Tables(int frames, int rows, int cols, IReadOnlyList<int> axesDims, double theta)
    {
        if (axesDims.Count != 3) throw new ArgumentException($"HunyuanVideo RoPE needs 3 axis widths (frame, height, width), got {axesDims.Count}");
        int width = axesDims.Sum(), n = frames * rows * cols;
        float th = (float)theta;
        var freqs = axesDims.Select(d => Enumerable.Range(0, d / 2).Select(k => 1f / MathF.Pow(th, (float)(2 * k) / d)).ToArray()).ToArray();
        var cos = new float[(long)n * width];
        var sin = new float[(long)n * width];
        long ch = 0;
        for (int f = 0; f < frames; f++)
            for (int y = 0; y < rows; y++)
                for (int x = 0; x < cols; x++)
                {
                    Span<int> pos = [f, y, x];
                    for (int a = 0; a < 3; a++)
                        foreach (var fr in freqs[a])
                        {
                            float angle = pos[a] * fr;
                            float c = MathF.Cos(angle), s = MathF.Sin(angle);
                            cos[ch] = c; cos[ch + 1] = c;
                            sin[ch] = s; sin[ch + 1] = s;
                            ch += 2;
                        }
                }
        return (cos, sin);
    }
}
