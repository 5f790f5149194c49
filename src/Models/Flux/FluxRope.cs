using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Flux;

/// <summary>
/// diffusers FluxPosEmbed: per-token rotary tables from position ids [n, axes]. Axis a of width d_a contributes
/// d_a channels: for k = 0 … d_a/2 − 1, angle = id_a · θ^(−2k/d_a) (float64), cos and sin each written twice
/// (channels 2k and 2k+1: the interleaved-pairs layout of apply_rotary_emb), then rounded to float32.
/// </summary>
public static class FluxRope
{
    /// <summary>Host tables cos, sin [n, Σ d_a] for ids given row-major as [n, axes.Length].</summary>
    public static (float[] Cos, float[] Sin) Tables(ReadOnlySpan<float> ids, int n, IReadOnlyList<int> axesDims, double theta = FluxConfig.RopeTheta)
    {
        int axes = axesDims.Count, width = axesDims.Sum();
        if (ids.Length != n * axes) throw new ArgumentException($"position ids hold {ids.Length} values, expected {n}×{axes}");
        var freqs = axesDims.Select(d => Enumerable.Range(0, d / 2).Select(k => 1.0 / Math.Pow(theta, 2.0 * k / d)).ToArray()).ToArray();
        var cos = new float[n * width];
        var sin = new float[n * width];
        for (int t = 0; t < n; t++)
        {
            int ch = t * width;
            for (int a = 0; a < axes; a++)
            {
                double pos = ids[t * axes + a];
                foreach (var f in freqs[a])
                {
                    double angle = pos * f;
                    float c = (float)Math.Cos(angle), s = (float)Math.Sin(angle);
                    cos[ch] = c; cos[ch + 1] = c;
                    sin[ch] = s; sin[ch + 1] = s;
                    ch += 2;
                }
            }
        }
        return (cos, sin);
    }

    /// <summary>The ids as a host float array [n, 3]: accepts [n, 3] or the deprecated batched [B, n, 3] (row 0 is used,
    /// as diffusers does).</summary>
    public static float[] ReadIds(IOps ops, Tensor ids, int axes, string what)
    {
        var t = ids.Rank switch
        {
            2 => ids,
            3 => ids.Slice(0, 0, 1),
            _ => throw new ArgumentException($"Flux {what} must be [N, {axes}] (or [B, N, {axes}]), got {Shape.Format(ids.ShapeSpan)}"),
        };
        if (t.Dim(-1) != axes)
            throw new ArgumentException($"Flux {what} must be [N, {axes}] (or [B, N, {axes}]), got {Shape.Format(ids.ShapeSpan)}");
        return ops.ToHost(t);
    }

    /// <summary>The patch grid the image ids describe ((·, row, col, …) row-major, as FluxPipeline and Flux2Pipeline
    /// build them), or a single row when they do not form one (reference tokens appended: Kontext, FLUX.2).</summary>
    public static (int H, int W) Grid(float[] ids, int n, int axes)
    {
        if (axes < 3 || n == 0) return (1, n);
        int h = (int)ids[(n - 1) * axes + 1] + 1, w = (int)ids[(n - 1) * axes + 2] + 1;
        if (h <= 0 || w <= 0 || h * w != n) return (1, n);
        for (int i = 0; i < n; i++)
            if (ids[i * axes + 1] != i / w || ids[i * axes + 2] != i % w) return (1, n);
        return (h, w);
    }
}
