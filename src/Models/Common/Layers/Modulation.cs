using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Layers;

/// <summary>
/// The per-sample modulation vectors of an adaptive norm: the output [B, k·D] of its linear layer cut into k
/// contiguous [B, D] parts, in the order the layer defines (e.g. shift, scale, gate, ...). Disposes the parts.
/// </summary>
public sealed class Modulation : IDisposable
{
    readonly Tensor[] _parts;
    readonly Tensor? _rows;

    Modulation(Tensor[] parts, Tensor? rows = null) { _parts = parts; _rows = rows; }

    /// <summary>The k rows of <paramref name="rows"/> [k, B, D] (contiguous, e.g. PixArt's table + conditioning laid
    /// out row-major) as views [B, D]; takes ownership of <paramref name="rows"/>.</summary>
    public static Modulation FromRows(Tensor rows)
    {
        if (rows.Rank != 3 || !rows.IsContiguous)
            throw new ArgumentException($"modulation rows must be a contiguous [k, B, D], got {Shape.Format(rows.ShapeSpan)}");
        int k = rows.Dim(0), b = rows.Dim(1), d = rows.Dim(2);
        var parts = new Tensor[k];
        for (int i = 0; i < k; i++) parts[i] = rows.Slice(0, i, 1).Reshape(b, d);
        return new Modulation(parts, rows);
    }

    /// <summary>Cuts <paramref name="packed"/> [B, k·D] into k contiguous [B, D] tensors.</summary>
    public static Modulation Split(IOps ops, Tensor packed, int chunks)
    {
        if (packed.Rank != 2 || packed.Dim(1) % chunks != 0)
            throw new ArgumentException($"modulation of shape {Shape.Format(packed.ShapeSpan)} cannot be cut into {chunks} chunks");
        int d = packed.Dim(1) / chunks;
        var parts = new Tensor[chunks];
        for (int i = 0; i < chunks; i++) parts[i] = ops.Contiguous(packed.Slice(1, i * d, d));
        return new Modulation(parts);
    }

    public int Count => _parts.Length;
    public Tensor this[int index] => _parts[index];

    public void Dispose()
    {
        foreach (var p in _parts) p.Dispose();
        _rows?.Dispose();
    }
}
