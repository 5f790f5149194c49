using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Ltx;

/// <summary>
/// diffusers LTXVideoRotaryPosEmbed: one table row of D = heads·head_dim features per token (not per head: each head
/// rotates its own slice of the row). A token (frame f, row y, column x) has grid coordinates
/// g = (f·s_t·p_t / 20, y·s_h·p / 2048, x·s_w·p / 2048) for rope_interpolation_scale s and the patch sizes p; with
/// ⌊D/6⌋ frequencies ω_j = θ^(j/(⌊D/6⌋ − 1))·π/2 (θ = 10000), pair 3j + a turns by ω_j·(2·g_a − 1), so the three
/// axes alternate pair by pair; both features of a pair take the angle (interleaved rotation), and the D mod 6
/// features left over come first, unrotated (cos 1, sin 0). Angles are formed in float32 step by step as torch forms
/// them: their high frequencies reach ~1.6·10⁴ rad, where a float32 ulp is 10⁻³ rad.
/// </summary>
public static class LtxRotaryTable
{
    public const float Theta = 10000f;
    /// <summary>diffusers' base_num_frames, base_height, base_width.</summary>
    public const float BaseFrames = 20f, BaseHeight = 2048f, BaseWidth = 2048f;

    /// <summary>cos and sin [frames·rows·cols, D], rows in (frame, row, column) order.</summary>
    public static (float[] Cos, float[] Sin) Build(LtxConfig c, int frames, int rows, int cols, (float T, float H, float W) scale)
    {
        int d = c.InnerDim, k = d / 6, pad = d % 6;
        var freqs = Frequencies(k);
        var gt = Axis(frames, scale.T, c.PatchSizeT, BaseFrames);
        var gh = Axis(rows, scale.H, c.PatchSize, BaseHeight);
        var gw = Axis(cols, scale.W, c.PatchSize, BaseWidth);
        long n = (long)frames * rows * cols;
        var cos = new float[n * d];
        var sin = new float[n * d];
        long o = 0;
        Span<float> g = stackalloc float[3];
        for (int f = 0; f < frames; f++)
            for (int y = 0; y < rows; y++)
                for (int x = 0; x < cols; x++, o += d)
                {
                    (g[0], g[1], g[2]) = (gt[f], gh[y], gw[x]);
                    for (int i = 0; i < pad; i++) cos[o + i] = 1f;
                    for (int j = 0; j < k; j++)
                        for (int a = 0; a < 3; a++)
                        {
                            float angle = freqs[j] * g[a];
                            float cv = (float)Math.Cos(angle), sv = (float)Math.Sin(angle);
                            long e = o + pad + 2 * (3 * j + a);
                            cos[e] = cos[e + 1] = cv;
                            sin[e] = sin[e + 1] = sv;
                        }
                }
        return (cos, sin);
    }

    /// <summary><see cref="Build"/> uploaded as two F32 tensors [N, D] the caller owns.</summary>
    public static (Tensor Cos, Tensor Sin) Upload(IOps ops, LtxConfig c, int frames, int rows, int cols, (float T, float H, float W) scale)
    {
        var (cos, sin) = Build(c, frames, rows, cols, scale);
        int n = frames * rows * cols;
        var tc = ops.FromHost(cos, n, c.InnerDim);
        try { return (tc, ops.FromHost(sin, n, c.InnerDim)); }
        catch { tc.Dispose(); throw; }
    }

    /// <summary>θ^linspace(0, 1, k)·π/2 in float32, as torch.linspace (from both ends) and pow compute it.</summary>
    static float[] Frequencies(int k)
    {
        var f = new float[k];
        float step = k > 1 ? 1f / (k - 1) : 0f;
        for (int j = 0; j < k; j++)
        {
            float e = j < k / 2 ? j * step : 1f - step * (k - 1 - j);
            float w = (float)Math.Pow(Theta, e);
            w *= MathF.PI;
            f[j] = w / 2f;
        }
        return f;
    }

    /// <summary>2·g − 1 of each position, g = ((pos·scale)·patch)/base, each step rounded to float32.</summary>
    static float[] Axis(int positions, float scale, int patch, float baseSize)
    {
        var g = new float[positions];
        for (int p = 0; p < positions; p++)
        {
            float v = p * scale;
            v *= patch;
            v /= baseSize;
            g[p] = v * 2f - 1f;
        }
        return g;
    }
}
