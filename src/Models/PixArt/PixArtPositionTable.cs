namespace XDit.Models.PixArt;

/// <summary>
/// PixArt's 2-D sin-cos position table (diffusers get_2d_sincos_pos_embed, models.md §1.7). It is not in the
/// checkpoint; it is rebuilt for each patch grid. A grid other than the trained base_size² (non-square, or larger)
/// is "interpolated" by dividing the coordinates by (grid / base_size) and by the interpolation scale, so every
/// grid spans the same coordinate range as the trained one.
/// </summary>
public static class PixArtPositionTable
{
    /// <summary>Row coordinate i (or column j) of a grid side of <paramref name="gridSide"/> tokens. diffusers
    /// computes it in float32: arange(float32) / (side / base_size) / interpolation_scale, each divisor rounded
    /// to float32 first.</summary>
    public static float Coordinate(int index, int gridSide, int baseSize, double interpolationScale)
    {
        float step = (float)((double)gridSide / baseSize);
        return (float)index / step / (float)interpolationScale;
    }

    /// <summary>The table [gh·gw, dim] row-major (token n = i·gw + j). Channels [0, dim/2) embed the column
    /// coordinate and [dim/2, dim) the row coordinate (diffusers' meshgrid puts w first); each half is
    /// [sin(p·ω_k), cos(p·ω_k)] with ω_k = 10000^(−k/(dim/4)), computed in float64 and stored as float32.</summary>
    public static float[] Build(int dim, int gridH, int gridW, int baseSize, double interpolationScale)
    {
        if (dim % 4 != 0) throw new ArgumentException($"the position table needs a width divisible by 4, got {dim}");
        int quarter = dim / 4, half = dim / 2;
        var omega = new double[quarter];
        for (int k = 0; k < quarter; k++) omega[k] = 1.0 / Math.Pow(10000.0, k / (double)quarter);

        var table = new float[(long)gridH * gridW * dim];
        var rowPart = new float[gridH][];
        for (int i = 0; i < gridH; i++) rowPart[i] = Embed1D(Coordinate(i, gridH, baseSize, interpolationScale), omega);
        var colPart = new float[gridW][];
        for (int j = 0; j < gridW; j++) colPart[j] = Embed1D(Coordinate(j, gridW, baseSize, interpolationScale), omega);

        for (int i = 0; i < gridH; i++)
            for (int j = 0; j < gridW; j++)
            {
                var dst = table.AsSpan((i * gridW + j) * dim, dim);
                colPart[j].CopyTo(dst[..half]);
                rowPart[i].CopyTo(dst[half..]);
            }
        return table;
    }

    static float[] Embed1D(float position, double[] omega)
    {
        int q = omega.Length;
        var e = new float[2 * q];
        for (int k = 0; k < q; k++)
        {
            double a = position * omega[k];
            e[k] = (float)Math.Sin(a);
            e[q + k] = (float)Math.Cos(a);
        }
        return e;
    }
}
