using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.CogVideoX;

/// <summary>
/// CogVideoX-2b's 3-D sin-cos position table (diffusers CogVideoXPatchEmbed._get_positional_embeddings over
/// get_3d_sincos_pos_embed), added to the video tokens in the patch embed; the text rows of diffusers' joint table are
/// zero, so only the video rows are built. Per token (frame t, row i, column j): the first D/4 features encode
/// t / temporal_interpolation_scale, the next 3D/8 the column j / spatial_interpolation_scale and the last 3D/8 the
/// row i / spatial_interpolation_scale (diffusers' meshgrid puts the width coordinate first), each as
/// [sin(pos·ω_k), cos(pos·ω_k)] with ω_k = 10000^(−k/(n/2)) over its n features. Computed in float64 as diffusers
/// does, rounded to float32. Tables are built on first use per grid and kept until the owner is disposed.
/// </summary>
public sealed class CogVideoXPositionTable(int dim, double spatialScale, double temporalScale) : IDisposable
{
    readonly Dictionary<(int, int, int), Tensor> _tables = new();

    /// <summary>The table [frames·gh·gw, D] on the backend of <paramref name="ops"/>, in the activation dtype.</summary>
    public Tensor Get(IOps ops, int frames, int gh, int gw)
    {
        lock (_tables)
        {
            if (!_tables.TryGetValue((frames, gh, gw), out var t))
            {
                using var f32 = ops.FromHost(Build(dim, frames, gh, gw, spatialScale, temporalScale), frames * gh * gw, dim);
                t = f32.DType == ops.ActivationType ? ops.Contiguous(f32) : ops.Cast(f32, ops.ActivationType);
                _tables[(frames, gh, gw)] = t;
            }
            return t;
        }
    }

    /// <summary>The video rows [frames·gh·gw, dim] row-major, tokens in (frame, row, column) order.</summary>
    public static float[] Build(int dim, int frames, int gh, int gw, double spatialScale, double temporalScale)
    {
        if (dim % 16 != 0) throw new ArgumentException($"CogVideoX sin-cos table: width {dim} must be a multiple of 16");
        int dimT = dim / 4, dimS = dim / 4 * 3, half = dimS / 2;
        long n = (long)frames * gh * gw * dim;
        if (n > Array.MaxLength) throw new ArgumentException($"CogVideoX sin-cos table of {frames}×{gh}×{gw} tokens × {dim} is too large");
        var table = new float[n];
        for (int t = 0; t < frames; t++)
            for (int i = 0; i < gh; i++)
                for (int j = 0; j < gw; j++)
                {
                    var row = table.AsSpan(((t * gh + i) * gw + j) * dim, dim);
                    // the positions are float32 tensors in diffusers (arange / scale), the rest float64
                    SinCos(row[..dimT], (float)(t / temporalScale));
                    SinCos(row.Slice(dimT, half), (float)(j / spatialScale));
                    SinCos(row.Slice(dimT + half, half), (float)(i / spatialScale));
                }
        return table;
    }

    /// <summary>diffusers get_1d_sincos_pos_embed_from_grid for one position: [sin(pos·ω), cos(pos·ω)].</summary>
    static void SinCos(Span<float> dst, double pos)
    {
        int h = dst.Length / 2;
        for (int k = 0; k < h; k++)
        {
            double a = pos * (1.0 / Math.Pow(10000.0, k / (dst.Length / 2.0)));
            dst[k] = (float)Math.Sin(a);
            dst[h + k] = (float)Math.Cos(a);
        }
    }

    public void Dispose()
    {
        lock (_tables)
        {
            foreach (var t in _tables.Values) t.Dispose();
            _tables.Clear();
        }
    }
}
