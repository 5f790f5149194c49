using System.Runtime.InteropServices;
using XDit.Runtime;

namespace XDit.Kernels.Cpu;

/// <summary>
/// The float32 reference backend. Every op reads its inputs through <see cref="Read"/> (strided or non-F32 views
/// are first copied into a dense F32 arena buffer) and writes a fresh contiguous F32 tensor from the arena, so a
/// repeated forward pass stops asking the system for memory after the first.
/// The op families live in the partial files next to this one (Gemm, Norms, Pointwise, Attention, Conv, Layout).
/// </summary>
public sealed partial class CpuOps : IOps
{
    readonly HostArena _arena;

    public CpuOps(HostArena? arena = null) => _arena = arena ?? new HostArena();

    public string Name => "cpu";
    public DType ActivationType => DType.F32;
    public IAllocator Allocator => _arena;
    public HostArena Arena => _arena;
    /// <summary>The CPU reference has one way of doing each op.</summary>
    public IReadOnlyList<string> FallbackNotes() => [];

    public void Dispose() => _arena.Trim();

    // ---- memory ----

    public Tensor Empty(DType dtype, params int[] shape)
    {
        OpContracts.Shape("Empty", shape);
        var storage = _arena.Allocate(Shape.Product(shape) * dtype.SizeOf());
        return new Tensor(storage, dtype, shape, owns: true);
    }

    public Tensor Zeros(DType dtype, params int[] shape)
    {
        var t = Empty(dtype, shape);
        Bytes(t).Clear();
        return t;
    }

    public Tensor FromHost(ReadOnlySpan<float> data, params int[] shape)
    {
        OpContracts.FromHost(data.Length, shape);
        var t = Empty(DType.F32, shape);
        data.CopyTo(t.Span<float>());
        return t;
    }

    public Tensor Upload(Tensor host)
    {
        RequireHost(host, nameof(host));
        // Floats become F32 (the CPU computes in float32); integer tensors (ids, masks) keep their dtype.
        var t = Empty(host.DType.IsFloat() ? DType.F32 : host.DType, host.Dims);
        StridedCopy.Copy(t, host);
        return t;
    }

    public float[] ToHost(Tensor t)
    {
        RequireHost(t, nameof(t));
        var result = new float[t.NumElements];
        if (t.DType == DType.F32 && t.IsContiguous) { t.Span<float>().CopyTo(result); return result; }
        using var tmp = Empty(DType.F32, t.Dims);
        StridedCopy.Copy(tmp, t);
        tmp.Span<float>().CopyTo(result);
        return result;
    }

    // ---- helpers shared by the op families ----

    /// <summary>A dense float32 view of a tensor: the tensor's own memory when it is already contiguous F32,
    /// otherwise an arena copy that <see cref="Dispose"/> gives back.</summary>
    internal ref struct Dense
    {
        public ReadOnlySpan<float> Span;
        public Tensor? Temp;
        public void Dispose() => Temp?.Dispose();
    }

    /// <summary>A writable dense float32 view of a tensor updated in place; strided targets are written back on Dispose.</summary>
    internal ref struct InOut
    {
        public Span<float> Span;
        public Tensor? Temp;
        public Tensor Target;
        public void Dispose()
        {
            if (Temp is null) return;
            StridedCopy.Copy(Target, Temp);
            Temp.Dispose();
        }
    }

    internal Dense Read(Tensor t)
    {
        RequireHost(t, "input");
        if (t.DType == DType.F32 && t.IsContiguous) return new Dense { Span = t.Span<float>() };
        var tmp = Empty(DType.F32, t.Dims);
        StridedCopy.Copy(tmp, t);
        return new Dense { Span = tmp.Span<float>(), Temp = tmp };
    }

    internal InOut Write(Tensor t, string name)
    {
        RequireHost(t, name);
        if (t.DType != DType.F32) throw new ArgumentException($"{name} must be F32, got {t.DType} {Shape.Format(t.ShapeSpan)}", name);
        if (t.IsContiguous) return new InOut { Span = t.Span<float>(), Target = t };
        var tmp = Empty(DType.F32, t.Dims);
        StridedCopy.Copy(tmp, t);
        return new InOut { Span = tmp.Span<float>(), Temp = tmp, Target = t };
    }

    /// <summary>Fresh contiguous F32 output tensor.</summary>
    internal Tensor NewF32(params int[] shape) => Empty(DType.F32, shape);

    static Span<byte> Bytes(Tensor t) => ((HostStorage)t.Storage).Bytes.AsSpan(checked((int)(t.Offset * t.DType.SizeOf())), checked((int)t.ByteCount));

    static void RequireHost(Tensor t, string name)
    {
        ArgumentNullException.ThrowIfNull(t, name);
        if (t.IsDisposed) throw new ObjectDisposedException(name, $"{name} {t} was disposed");
        if (t.Storage is not HostStorage) throw new ArgumentException($"{name} {t} does not live in host memory", name);
    }

    /// <summary>Row count of a tensor viewed as [rows, last].</summary>
    static int Rows(Tensor t) => t.Rank == 0 ? 1 : checked((int)(t.NumElements / Math.Max(1, t.Dim(-1))));

    static float[] EmptyBias => [];

    internal static Span<float> AsFloats(byte[] bytes) => MemoryMarshal.Cast<byte, float>(bytes.AsSpan());
}
