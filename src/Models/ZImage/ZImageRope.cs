namespace XDit.Models.ZImage;

/// <summary>
/// diffusers' Z-Image RopeEmbedder: complex rotations per axis (widths axes_dims, summing to the head dim), pair k of
/// an axis of width d turning by position · θ^(−2k/d), the angle a float64 product cast to float32 (as
/// precompute_freqs_cis builds its tables) and its cos/sin taken in float32. Tables are in the interleaved-pairs
/// layout (channels 2k and 2k+1 share one angle), as view_as_complex pairs them.
/// <para>Positions, as patchify_and_embed gives them: caption token j at (1 + j, 0, 0) over the caption padded to
/// its multiple of 32, image token (f, y, x) at (P + 1 + f, y, x) where P is that padded caption length, and the
/// image's padding tokens at (0, 0, 0).</para>
/// </summary>
public static class ZImageRope
{
    /// <summary>Host tables cos, sin [count, Σ d] for the positions (a0 + i·step0, a1, a2), i = 0 … count − 1: a run of
    /// caption tokens (step 1) or of padding tokens (step 0).</summary>
    public static void Fill(float[] cos, float[] sin, int row, int count, int a0, int step0, int a1, int a2, ZImageConfig c)
    {
        var freqs = Frequencies(c);
        for (int i = 0; i < count; i++)
            Fill(cos, sin, (row + i) * c.HeadDim, [a0 + i * step0, a1, a2], freqs);
    }

    /// <summary>Host tables cos, sin [h·w, Σ d] of an image grid at frame position <paramref name="frame"/>, row-major
    /// over (y, x).</summary>
    public static (float[] Cos, float[] Sin) Image(int frame, int height, int width, ZImageConfig c)
    {
        int dim = c.HeadDim;
        var cos = new float[height * width * dim];
        var sin = new float[height * width * dim];
        var freqs = Frequencies(c);
        for (int y = 0, t = 0; y < height; y++)
            for (int x = 0; x < width; x++, t++)
                Fill(cos, sin, t * dim, [frame, y, x], freqs);
        return (cos, sin);
    }

    /// <summary>θ^(−2k/d) per axis in float64: 1 / θ^(2k/d), as precompute_freqs_cis computes it.</summary>
    static double[][] Frequencies(ZImageConfig c) => c.AxesDims
        .Select(d => Enumerable.Range(0, d / 2).Select(k => 1.0 / Math.Pow(c.RopeTheta, 2.0 * k / d)).ToArray())
        .ToArray();

    static void Fill(float[] cos, float[] sin, int at, ReadOnlySpan<int> pos, double[][] freqs)
    {
        for (int a = 0; a < freqs.Length; a++)
            foreach (var f in freqs[a])
            {
                float angle = (float)(pos[a] * f);
                float co = (float)Math.Cos(angle), si = (float)Math.Sin(angle);
                cos[at] = co; cos[at + 1] = co;
                sin[at] = si; sin[at + 1] = si;
                at += 2;
            }
    }
}
