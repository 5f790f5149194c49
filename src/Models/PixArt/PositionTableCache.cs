using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.PixArt;

/// <summary>
/// PatchEmbed's sin-cos position tables [gh·gw, D] (<see cref="PixArtPositionTable"/>), built on first use for each
/// grid size and kept until the owning model is disposed: the model lives on one backend (the one its weights were
/// uploaded to), and a run asks for the same grid every step. PixArt always adds one; SANA when its config sets
/// interpolation_scale.
/// </summary>
public sealed class PositionTableCache(int dim, int baseSize, double interpolationScale) : IDisposable
{
    readonly Dictionary<(int, int), Tensor> _tables = new();

    public Tensor Get(IOps ops, int gh, int gw)
    {
        lock (_tables)
        {
            if (!_tables.TryGetValue((gh, gw), out var t))
            {
                var table = PixArtPositionTable.Build(dim, gh, gw, baseSize, interpolationScale);
                t = ops.FromHost(table, gh * gw, dim);
                _tables[(gh, gw)] = t;
            }
            return t;
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
