using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Layers;

/// <summary>
/// The per-sample modulation vectors of an adaptive norm: the output [B, k·D] of its linear layer cut into k
/// [B, D] parts, in the order the layer defines (e.g. shift, scale, gate, ...). The parts are strided views of the
/// packed output, read in place by the ops that take them (Modulate, GatedResidual, LayerNormModulate,
/// RmsNormModulate): cutting costs no copy. Disposes what it owns.
/// </summary>
public sealed class Modulation : IDisposable
{
    readonly Tensor[] _parts;
    readonly Tensor? _packed;   // owned when made by Split

    Modulation(Tensor[] parts, Tensor? packed = null) { _parts = parts; _packed = packed; }

    /// <summary>Cuts <paramref name="packed"/> [B, k·D] into k [B, D] views; takes ownership of it.</summary>
    public static Modulation Split(Tensor packed, int chunks)
    {
        if (packed.Rank != 2 || chunks <= 0 || packed.Dim(1) % chunks != 0)
            throw new ArgumentException($"modulation of shape {Shape.Format(packed.ShapeSpan)} cannot be cut into {chunks} chunks");
        var m = View(packed, 0, chunks, packed.Dim(1) / chunks);
        return new Modulation(m._parts, packed);
    }

    /// <summary><paramref name="chunks"/> [B, d] views of <paramref name="packed"/> [B, ≥ (first + chunks)·d] from
    /// chunk <paramref name="first"/> on (one stream's part of a modulation computed for several); owns nothing,
    /// so <paramref name="packed"/> must outlive it.</summary>
    public static Modulation View(Tensor packed, int first, int chunks, int d)
    {
        if (packed.Rank != 2 || d <= 0 || first < 0 || chunks <= 0 || (long)(first + chunks) * d > packed.Dim(1) || packed.Strides[1] != 1)
            throw new ArgumentException($"modulation of shape {Shape.Format(packed.ShapeSpan)} holds no {chunks} chunks of {d} from chunk {first}");
        var parts = new Tensor[chunks];
        for (int i = 0; i < chunks; i++) parts[i] = packed.Slice(1, (first + i) * d, d);
        return new Modulation(parts);
    }

    public int Count => _parts.Length;
    public Tensor this[int index] => _parts[index];

    public void Dispose()
    {
        foreach (var p in _parts) p.Dispose();
        _packed?.Dispose();
    }
}
