namespace XDit.Models.QwenImage;

/// <summary>
/// diffusers QwenEmbedRope with scale_rope (as QwenImageTransformer2DModel builds it): complex rotations per axis
/// (frame, height, width; widths d_f, d_h, d_w summing to the head dim), pair k of an axis of width d turning by
/// position · θ^(−2k/d). An image token (f, y, x) of an F×h×w grid sits at frame f and at the centred row and column
/// y − (h − ⌊h/2⌋), x − (w − ⌊w/2⌋) (negative above and left of the centre); text token i sits at m + i on all three
/// axes, m = max(⌊h/2⌋, ⌊w/2⌋), right after the image's largest positive extent. Angles are float32 products of a
/// float32 frequency, as torch.polar receives them. Tables are in the interleaved-pairs layout (channels 2k and 2k+1
/// share one angle), as the complex multiply of apply_rotary_emb_qwen pairs them.
/// </summary>
public static class QwenImageRope
{
    /// <summary>Host tables cos, sin [F·h·w, Σ d] of the image tokens, row-major over (f, y, x).</summary>
    public static (float[] Cos, float[] Sin) Image(int frames, int height, int width, IReadOnlyList<int> axesDims)
    {
        if (axesDims.Count != 3) throw new ArgumentException($"Qwen-Image RoPE has three axes (frame, height, width), got {axesDims.Count}");
        int n = frames * height * width, dim = axesDims.Sum();
        var cos = new float[n * dim];
        var sin = new float[n * dim];
        var freqs = Frequencies(axesDims);
        int top = height - height / 2, left = width - width / 2;
        Span<int> pos = stackalloc int[3];
        for (int f = 0, t = 0; f < frames; f++)
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++, t++)
                {
                    pos[0] = f; pos[1] = y - top; pos[2] = x - left;
                    Fill(cos, sin, t * dim, pos, freqs);
                }
        return (cos, sin);
    }

    /// <summary>Host tables cos, sin [T, Σ d] of <paramref name="textTokens"/> text tokens after an image of
    /// <paramref name="height"/>×<paramref name="width"/> tokens.</summary>
    public static (float[] Cos, float[] Sin) Text(int textTokens, int height, int width, IReadOnlyList<int> axesDims)
    {
        int dim = axesDims.Sum(), start = TextStart(height, width);
        var cos = new float[textTokens * dim];
        var sin = new float[textTokens * dim];
        var freqs = Frequencies(axesDims);
        Span<int> pos = stackalloc int[3];
        for (int i = 0; i < textTokens; i++)
        {
            pos[0] = pos[1] = pos[2] = start + i;
            Fill(cos, sin, i * dim, pos, freqs);
        }
        return (cos, sin);
    }

    /// <summary>The first text position: max(⌊h/2⌋, ⌊w/2⌋), the largest positive row or column index plus one.</summary>
    public static int TextStart(int height, int width) => Math.Max(height / 2, width / 2);

    /// <summary>θ^(−2k/d) per axis in float32: 1 / pow(θ, (2k as float32) / d), as rope_params computes it.</summary>
    static float[][] Frequencies(IReadOnlyList<int> axesDims) => axesDims
        .Select(d => Enumerable.Range(0, d / 2).Select(k => 1f / MathF.Pow((float)QwenImageConfig.RopeTheta, 2f * k / d)).ToArray())
        .ToArray();

    static void Fill(float[] cos, float[] sin, int at, ReadOnlySpan<int> pos, float[][] freqs)
    {
        for (int a = 0; a < freqs.Length; a++)
            foreach (var f in freqs[a])
            {
                float angle = pos[a] * f;   // float32, as torch.outer of the index and the frequencies
                float c = (float)Math.Cos(angle), s = (float)Math.Sin(angle);
                cos[at] = c; cos[at + 1] = c;
                sin[at] = s; sin[at + 1] = s;
                at += 2;
            }
    }
}
