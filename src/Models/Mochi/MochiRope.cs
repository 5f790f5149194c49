using XDit.Runtime;

namespace XDit.Models.Mochi;

/// <summary>
/// diffusers MochiRoPE with the model's learned pos_frequencies [3, H, d/2]: token (f, y, x) sits at
/// (f, centre of row y, centre of column x), the rows and columns spread over ±(count·s)/2 with
/// s = √(192² / (rows·cols)) (so every resolution covers the same area), each centre the mean of two neighbouring
/// edges of torch.linspace; the angle of head h's pair k is Σ_axis position·pos_frequencies[axis, h, k]. Unlike the
/// other models' tables, every head has its own angles: a token's row holds all heads, [H·d], cos and sin each
/// written twice (features 2k and 2k+1 of a head: the interleaved pairs Mochi's apply_rotary_emb turns). Computed
/// in float32, as diffusers does; the text tokens get no rotation.
/// </summary>
public static class MochiRope
{
    /// <summary>diffusers' base_height × base_width: the area every resolution's positions are scaled to.</summary>
    public const int BaseSize = 192;

    /// <summary>Host tables cos, sin [frames·rows·cols, H·d] from pos_frequencies [3, H, d/2] (row-major).</summary>
    public static (float[] Cos, float[] Sin) Tables(int frames, int rows, int cols, ReadOnlySpan<float> posFrequencies, int heads, int headDim)
    {
        int half = headDim / 2;
        if (headDim % 2 != 0 || posFrequencies.Length != 3 * heads * half)
            throw new ArgumentException($"Mochi RoPE needs pos_frequencies [3, {heads}, {half}] for {heads} heads of {headDim}, got {posFrequencies.Length} values");
        double scale = Math.Sqrt((double)BaseSize * BaseSize / ((double)rows * cols));
        var ys = Centers(rows, scale);
        var xs = Centers(cols, scale);
        int width = heads * headDim;
        long n = (long)frames * rows * cols;
        var cos = new float[n * width];
        var sin = new float[n * width];
        long at = 0;
        for (int f = 0; f < frames; f++)
            for (int y = 0; y < rows; y++)
                for (int x = 0; x < cols; x++)
                    for (int h = 0; h < heads; h++)
                        for (int k = 0; k < half; k++)
                        {
                            int j = h * half + k, stride = heads * half;
                            float angle = f * posFrequencies[j] + ys[y] * posFrequencies[stride + j] + xs[x] * posFrequencies[2 * stride + j];
                            float c = MathF.Cos(angle), s = MathF.Sin(angle);
                            cos[at] = c; cos[at + 1] = c;
                            sin[at] = s; sin[at + 1] = s;
                            at += 2;
                        }
        return (cos, sin);
    }

    /// <summary>The centres of <paramref name="count"/> cells between ±count·scale/2: torch.linspace(start, stop, count + 1)
    /// in float32 (the first half from the start, the second back from the stop, as PyTorch computes it), then
    /// the means of neighbouring edges.</summary>
    public static float[] Centers(int count, double scale)
    {
        float start = (float)(-count * scale / 2), stop = (float)(count * scale / 2);
        int steps = count + 1, halfway = steps / 2;
        float step = (stop - start) / (steps - 1);
        var edges = new float[steps];
        for (int i = 0; i < steps; i++) edges[i] = i < halfway ? start + step * i : stop - step * (steps - i - 1);
        var centres = new float[count];
        for (int i = 0; i < count; i++) centres[i] = (edges[i] + edges[i + 1]) / 2;
        return centres;
    }
}
