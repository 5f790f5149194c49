using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Latte;

/// <summary>
/// Latte's temporal position table (diffusers get_1d_sincos_pos_embed_from_grid over frames 0…video_length−1, the
/// temp_pos_embed buffer): not in the checkpoint, rebuilt here. Row f is [sin(f·ω_k), cos(f·ω_k)] with
/// ω_k = 10000^(−k/(D/2)), k &lt; D/2, in float64 rounded to float32. The transformer adds it to the tokens in the
/// temporal layout (patch-major: token n·F + f is frame f of patch n), so the device table is tiled once per patch
/// count and kept until the model is disposed.
/// </summary>
public sealed class LatteFrameTable(int dim) : IDisposable
{
    readonly Dictionary<(int, int), Tensor> _tiled = new();

    /// <summary>The table [frames, dim] row-major.</summary>
    public static float[] Build(int dim, int frames)
    {
        if (dim % 2 != 0) throw new ArgumentException($"the temporal position table needs an even width, got {dim}");
        int half = dim / 2;
        var table = new float[(long)frames * dim];
        for (int f = 0; f < frames; f++)
            for (int k = 0; k < half; k++)
            {
                double a = f / Math.Pow(10000.0, k / (double)half);
                table[f * dim + k] = (float)Math.Sin(a);
                table[f * dim + half + k] = (float)Math.Cos(a);
            }
        return table;
    }

    /// <summary>[patches·frames, dim]: the frame rows repeated for each of <paramref name="patches"/> positions.</summary>
    public Tensor Tiled(IOps ops, int patches, int frames)
    {
        lock (_tiled)
        {
            if (!_tiled.TryGetValue((patches, frames), out var t))
            {
                var rows = Build(dim, frames);
                var tiled = new float[(long)patches * rows.Length];
                for (int n = 0; n < patches; n++) rows.CopyTo(tiled.AsSpan(n * rows.Length, rows.Length));
                t = ops.FromHost(tiled, patches * frames, dim);
                _tiled[(patches, frames)] = t;
            }
            return t;
        }
    }

    public void Dispose()
    {
        lock (_tiled)
        {
            foreach (var t in _tiled.Values) t.Dispose();
            _tiled.Clear();
        }
    }
}
