using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Ltx;

/// <summary>
/// The RoPE tables of each (grid, rope_interpolation_scale) on the model's backend (<see cref="LtxRotaryTable"/>),
/// built on first use and kept until the model is disposed: a video asks for the same grid every step, and a table row
/// spans all heads (LTX-Video at 16×16×24 latents: 2 × 50 MB in float32), too much to build and upload each step. States
/// read them without owning them.
/// </summary>
public sealed class LtxRopeCache(LtxConfig config) : IDisposable
{
    readonly Dictionary<(int, int, int, (float, float, float)), (Tensor Cos, Tensor Sin)> _tables = new();

    public (Tensor Cos, Tensor Sin) Get(IOps ops, int frames, int rows, int cols, (float T, float H, float W) scale)
    {
        lock (_tables)
        {
            var key = (frames, rows, cols, (scale.T, scale.H, scale.W));
            if (!_tables.TryGetValue(key, out var t))
            {
                t = LtxRotaryTable.Upload(ops, config, frames, rows, cols, scale);
                _tables[key] = t;
            }
            return t;
        }
    }

    public void Dispose()
    {
        lock (_tables)
        {
            foreach (var (cos, sin) in _tables.Values) { cos.Dispose(); sin.Dispose(); }
            _tables.Clear();
        }
    }
}
