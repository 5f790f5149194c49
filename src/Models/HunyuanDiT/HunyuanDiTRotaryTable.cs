namespace XDit.Models.HunyuanDiT;

/// <summary>
/// The 2-D rotary tables the HunyuanDiT pipeline hands the transformer (diffusers get_2d_rotary_pos_embed over
/// get_resize_crop_region_for_grid((gh, gw), base)): the grid is fitted into a base×base square (base = 512/8/p
/// = 32 for v1.x) keeping its aspect ratio and centred, token (i, j) gets the coordinates row = linspace(top,
/// bottom·(gh−1)/gh, gh)[i] and column = linspace(left, right·(gw−1)/gw, gw)[j]; the first head_dim/2 features
/// rotate with the column, the rest with the row, each at frequencies 10000^(−2k/(head_dim/2)), every angle
/// repeated for the pair (2k, 2k+1).
/// </summary>
public static class HunyuanDiTRotaryTable
{
    /// <summary>The pipeline's base grid side: 512 px / 8 (VAE) / 2 (patch).</summary>
    public const int DefaultBaseSize = 32;

    /// <summary>cos and sin, each [gh·gw, headDim] row-major, tokens row-major over the patch grid.</summary>
    public static (float[] Cos, float[] Sin) Build(int headDim, int gridH, int gridW, int baseSize = DefaultBaseSize)
    {
        if (headDim % 4 != 0) throw new ArgumentException($"HunyuanDiT 2-D RoPE needs head_dim divisible by 4, got {headDim}");
        if (gridH <= 0 || gridW <= 0) throw new ArgumentException($"HunyuanDiT RoPE grid must be positive, got {gridH}×{gridW}");
        var ((top, left), (bottom, right)) = ResizeCropRegion(gridH, gridW, baseSize);
        var rows = Linspace(top, bottom * (gridH - 1.0) / gridH, gridH);
        var cols = Linspace(left, right * (gridW - 1.0) / gridW, gridW);
        int half = headDim / 2, pairs = half / 2;
        var freqs = new double[pairs];
        for (int k = 0; k < pairs; k++)
            freqs[k] = 1.0 / Math.Pow(10000.0, 2.0 * k / half);
        var cos = new float[gridH * gridW * headDim];
        var sin = new float[cos.Length];
        for (int i = 0; i < gridH; i++)
            for (int j = 0; j < gridW; j++)
            {
                int o = (i * gridW + j) * headDim;
                for (int part = 0; part < 2; part++)
                {
                    double pos = part == 0 ? cols[j] : rows[i];
                    for (int k = 0; k < pairs; k++)
                    {
                        double a = pos * freqs[k];
                        int f = o + part * half + 2 * k;
                        cos[f] = cos[f + 1] = (float)Math.Cos(a);
                        sin[f] = sin[f + 1] = (float)Math.Sin(a);
                    }
                }
            }
        return (cos, sin);
    }

    /// <summary>diffusers get_resize_crop_region_for_grid: the grid scaled to fit base×base (its longer side equal
    /// to base, the other rounded half-to-even as Python's round), centred; returns (top, left), (bottom, right).</summary>
    public static ((int Top, int Left), (int Bottom, int Right)) ResizeCropRegion(int gridH, int gridW, int baseSize)
    {
        int rh, rw;
        if ((double)gridH / gridW > 1) { rh = baseSize; rw = (int)Math.Round((double)baseSize / gridH * gridW, MidpointRounding.ToEven); }
        else { rw = baseSize; rh = (int)Math.Round((double)baseSize / gridW * gridH, MidpointRounding.ToEven); }
        int top = (int)Math.Round((baseSize - rh) / 2.0, MidpointRounding.ToEven);
        int left = (int)Math.Round((baseSize - rw) / 2.0, MidpointRounding.ToEven);
        return ((top, left), (top + rh, left + rw));
    }

    static double[] Linspace(double start, double end, int n)
    {
        var v = new double[n];
        for (int i = 0; i < n; i++) v[i] = n == 1 ? start : start + (end - start) * i / (n - 1);
        return v;
    }
}
