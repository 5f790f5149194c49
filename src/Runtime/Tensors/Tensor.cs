using System.Runtime.InteropServices;

namespace XDit.Runtime;

/// <summary>
/// A typed view on a <see cref="Storage"/>: dtype, shape, strides and offset, all counted in elements.
/// A tensor made by an allocator owns its storage and gives it back on <see cref="Dispose"/>; views made by
/// <see cref="Reshape"/>, <see cref="Permute"/>, <see cref="Slice"/> share the storage and own nothing, so they
/// must not outlive the tensor they view. No autograd, no lazy graph, no operators that allocate.
/// </summary>
public sealed class Tensor : IDisposable
{
    int[] _shape;
    long[] _strides;
    bool _owns;

    public Tensor(Storage storage, DType dtype, int[] shape, long[]? strides = null, long offset = 0, bool owns = false)
    {
        Storage = storage;
        DType = dtype;
        _shape = (int[])shape.Clone();
        foreach (var d in _shape)
            if (d < 0) throw new ArgumentException($"negative dimension in shape {Shape.Format(_shape)}");
        _strides = strides is null ? ContiguousStrides(_shape) : (long[])strides.Clone();
        if (_strides.Length != _shape.Length) throw new ArgumentException("strides and shape differ in rank");
        Offset = offset;
        _owns = owns;
        long needed = (MaxIndex() + 1) * dtype.SizeOf();
        if (NumElements > 0 && (offset < 0 || needed > storage.ByteLength))
            throw new ArgumentException($"view {Shape.Format(_shape)} at offset {offset} needs {needed} bytes but the storage has {storage.ByteLength}");
    }

    /// <summary>A float32 tensor on fresh host memory (not from an arena) holding a copy of <paramref name="data"/>.</summary>
    public static Tensor FromArray(ReadOnlySpan<float> data, params int[] shape)
    {
        if (Shape.Product(shape) != data.Length)
            throw new ArgumentException($"shape {Shape.Format(shape)} needs {Shape.Product(shape)} values, got {data.Length}");
        var s = new HostStorage((long)data.Length * 4);
        data.CopyTo(MemoryMarshal.Cast<byte, float>(s.Bytes.AsSpan()));
        return new Tensor(s, DType.F32, shape);
    }

    public Storage Storage { get; }
    public DType DType { get; }
    public ReadOnlySpan<int> ShapeSpan => _shape;
    public int[] Dims => (int[])_shape.Clone();
    public ReadOnlySpan<long> Strides => _strides;
    public long Offset { get; }
    public int Rank => _shape.Length;
    public long NumElements => Shape.Product(_shape);
    public long ByteCount => NumElements * DType.SizeOf();
    public bool OwnsStorage => _owns;
    public bool IsDisposed { get; private set; }

    /// <summary>Size of axis <paramref name="axis"/>; negative axes count from the end.</summary>
    public int Dim(int axis) => _shape[NormAxis(axis)];

    public int NormAxis(int axis)
    {
        int a = axis < 0 ? axis + _shape.Length : axis;
        if (a < 0 || a >= _shape.Length) throw new ArgumentOutOfRangeException(nameof(axis), $"axis {axis} out of range for shape {Shape.Format(_shape)}");
        return a;
    }

    public bool IsContiguous
    {
        get
        {
            long expect = 1;
            for (int i = _shape.Length - 1; i >= 0; i--)
            {
                if (_shape[i] != 1 && _strides[i] != expect) return false;
                expect *= _shape[i];
            }
            return true;
        }
    }

    /// <summary>Same storage, new shape; needs a contiguous tensor. One dimension may be -1.</summary>
    public Tensor Reshape(params int[] shape)
    {
        if (!IsContiguous) throw new InvalidOperationException($"reshape of a non-contiguous view {Shape.Format(_shape)}: make it contiguous first");
        var s = (int[])shape.Clone();
        int infer = Array.IndexOf(s, -1);
        if (infer >= 0)
        {
            long rest = 1;
            for (int i = 0; i < s.Length; i++) if (i != infer) rest *= s[i];
            s[infer] = rest == 0 ? 0 : (int)(NumElements / rest);
        }
        if (Shape.Product(s) != NumElements)
            throw new ArgumentException($"cannot reshape {Shape.Format(_shape)} ({NumElements} elements) to {Shape.Format(s)}");
        return new Tensor(Storage, DType, s, null, Offset);
    }

    /// <summary><see cref="Reshape"/> that moves this tensor's ownership of its storage to the result and disposes
    /// this one: for returning a freshly computed tensor in another shape.</summary>
    public Tensor TakeReshaped(params int[] shape)
    {
        var view = Reshape(shape);
        view._owns = _owns;
        _owns = false;
        IsDisposed = true;
        return view;
    }

    /// <summary>A view with the axes reordered (no copy).</summary>
    public Tensor Permute(params int[] axes)
    {
        if (axes.Length != Rank) throw new ArgumentException($"permute needs {Rank} axes, got {axes.Length}");
        var seen = new bool[Rank];
        var shape = new int[Rank];
        var strides = new long[Rank];
        for (int i = 0; i < Rank; i++)
        {
            int a = NormAxis(axes[i]);
            if (seen[a]) throw new ArgumentException("permute axes repeat");
            seen[a] = true;
            shape[i] = _shape[a];
            strides[i] = _strides[a];
        }
        return new Tensor(Storage, DType, shape, strides, Offset);
    }

    /// <summary>A view of <paramref name="length"/> entries of <paramref name="axis"/> starting at <paramref name="start"/>.</summary>
    public Tensor Slice(int axis, int start, int length)
    {
        int a = NormAxis(axis);
        if (start < 0 || length < 0 || start + length > _shape[a])
            throw new ArgumentOutOfRangeException(nameof(start), $"slice [{start}, {start + length}) of axis {axis} with size {_shape[a]}");
        var shape = (int[])_shape.Clone();
        shape[a] = length;
        return new Tensor(Storage, DType, shape, _strides, Offset + start * _strides[a]);
    }

    /// <summary>The view at <paramref name="index"/> of <paramref name="axis"/>, with that axis dropped (no copy):
    /// torch's <c>t.select(axis, index)</c>.</summary>
    public Tensor Select(int axis, int index)
    {
        int a = NormAxis(axis);
        if (index < 0 || index >= _shape[a])
            throw new ArgumentOutOfRangeException(nameof(index), $"index {index} of axis {a} with size {_shape[a]}");
        var shape = _shape.Where((_, i) => i != a).ToArray();
        var strides = _strides.Where((_, i) => i != a).ToArray();
        return new Tensor(Storage, DType, shape, strides, Offset + index * _strides[a]);
    }

    /// <summary>View with a size-1 axis inserted at <paramref name="axis"/>.</summary>
    public Tensor Unsqueeze(int axis)
    {
        if (axis < 0) axis += Rank + 1;
        var shape = new List<int>(_shape); var strides = new List<long>(_strides);
        shape.Insert(axis, 1);
        strides.Insert(axis, axis < Rank ? _strides[axis] * _shape[axis] : 1);
        return new Tensor(Storage, DType, shape.ToArray(), strides.ToArray(), Offset);
    }

    /// <summary>Element span of a contiguous host tensor.</summary>
    public Span<T> Span<T>() where T : unmanaged
    {
        if (Storage is not HostStorage hs) throw new InvalidOperationException("Span() needs a host tensor");
        if (!IsContiguous) throw new InvalidOperationException($"Span() needs a contiguous tensor, got strides [{string.Join(",", _strides)}] for shape {Shape.Format(_shape)}");
        int size = DType.SizeOf();
        if (Marshal.SizeOf<T>() != size) throw new InvalidOperationException($"Span<{typeof(T).Name}> does not match dtype {DType}");
        return MemoryMarshal.Cast<byte, T>(hs.Bytes.AsSpan(checked((int)(Offset * size)), checked((int)(NumElements * size))));
    }

    /// <summary>Copy of a host float32 tensor's elements in logical (row-major) order, strided or not.</summary>
    public float[] ToFloatArray()
    {
        if (Storage is not HostStorage) throw new InvalidOperationException("ToFloatArray() needs a host tensor; use IOps.ToHost");
        if (DType != DType.F32) throw new InvalidOperationException($"ToFloatArray() needs F32, got {DType}");
        if (IsContiguous) return Span<float>().ToArray();
        var result = new float[NumElements];
        var all = MemoryMarshal.Cast<byte, float>(((HostStorage)Storage).Bytes.AsSpan());
        var idx = new int[Rank];
        for (long n = 0; n < result.Length; n++)
        {
            long off = Offset;
            for (int i = 0; i < Rank; i++) off += idx[i] * _strides[i];
            result[n] = all[(int)off];
            for (int i = Rank - 1; i >= 0; i--) { if (++idx[i] < _shape[i]) break; idx[i] = 0; }
        }
        return result;
    }

    long MaxIndex()
    {
        long m = Offset;
        for (int i = 0; i < _shape.Length; i++) if (_shape[i] > 0) m += (_shape[i] - 1) * Math.Max(0, _strides[i]);
        return m;
    }

    public static long[] ContiguousStrides(ReadOnlySpan<int> shape)
    {
        var s = new long[shape.Length];
        long acc = 1;
        for (int i = shape.Length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
        return s;
    }

    /// <summary>Gives owned storage back to its allocator. Views and tensors that own nothing just mark themselves disposed.</summary>
    public void Dispose()
    {
        if (IsDisposed) return;
        IsDisposed = true;
        if (_owns) { _owns = false; Storage.Owner?.Release(Storage); }
    }

    public override string ToString() => $"Tensor({DType}, {Shape.Format(_shape)})";
}

/// <summary>Shape helpers.</summary>
public static class Shape
{
    public static long Product(ReadOnlySpan<int> shape) { long p = 1; foreach (var d in shape) p *= d; return p; }
    public static string Format(ReadOnlySpan<int> shape) => "[" + string.Join(", ", shape.ToArray()) + "]";
    public static bool Equal(ReadOnlySpan<int> a, ReadOnlySpan<int> b) => a.SequenceEqual(b);
}
