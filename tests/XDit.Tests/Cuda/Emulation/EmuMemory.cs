using XDit.Runtime;

namespace XDit.Tests.Cuda.Emulation;

/// <summary>
/// Device memory for emulated launches: the emulator's guarded memory (native/emu/guarded_memory.cpp), the same as
/// its cuMemAlloc hands out. Every buffer starts filled with 0xFF bytes (NaN in every float type: an output element
/// the kernel forgot to write shows up), ends 16-byte aligned just before an inaccessible guard page (so a read or
/// write past its end fails the launch with the offset), and starts after a lead zone that
/// <see cref="AssertGuardsIntact"/> checks, so a write before its start fails the test. Buffers are 16-byte aligned,
/// as cuMemAlloc's are at least, so the kernels' vector paths are taken.
/// </summary>
public sealed unsafe class EmuMemory : IDisposable
{
    const int LeadBytes = 256;
    readonly KernelEmulator _emu = KernelEmulator.Get();
    readonly List<EmuStorage> _buffers = new();

    /// <summary>A view of <paramref name="shape"/> (strides and offset in elements, contiguous by default) over a fresh
    /// NaN-filled buffer of <paramref name="elements"/> elements.</summary>
    public Tensor Alloc(DType dt, long elements, int[] shape, long[]? strides = null, long offset = 0)
    {
        long length = elements * dt.SizeOf();
        var s = new EmuStorage(_emu.GuardedAlloc(LeadBytes + length), LeadBytes + length);
        _buffers.Add(s);
        return new Tensor(s, dt, shape, strides, LeadBytes / dt.SizeOf() + offset);
    }

    public Tensor Alloc(DType dt, params int[] shape) => Alloc(dt, Shape.Product(shape), shape);

    /// <summary>A contiguous tensor holding <paramref name="values"/> rounded to <paramref name="dt"/>.</summary>
    public Tensor Upload(float[] values, DType dt, params int[] shape)
    {
        var t = Alloc(dt, shape);
        Write(t, values);
        return t;
    }

    /// <summary>Writes <paramref name="values"/> in the view's logical (row-major) order.</summary>
    public static void Write(Tensor t, float[] values)
    {
        Assert.Equal(t.NumElements, values.Length);
        var p = Base(t);
        for (long i = 0; i < values.Length; i++) Store(p, t.DType, ElementOffset(t, i), values[i]);
    }

    /// <summary>The view's elements as floats, in logical order.</summary>
    public static float[] Read(Tensor t)
    {
        var p = Base(t);
        var r = new float[t.NumElements];
        for (long i = 0; i < r.Length; i++) r[i] = Load(p, t.DType, ElementOffset(t, i));
        return r;
    }

    /// <summary>The address of the view's first element: the "device pointer" a kernel gets.</summary>
    public static ulong Pointer(Tensor t, string what)
    {
        if (t.Storage is not EmuStorage) throw new ArgumentException($"{what} {t} is not emulator memory");
        return (ulong)Base(t) + (ulong)(t.Offset * t.DType.SizeOf());
    }

    public void AssertGuardsIntact()
    {
        foreach (var s in _buffers)
            Assert.True(new ReadOnlySpan<byte>((void*)s.Address, LeadBytes).IndexOfAnyExcept((byte)0xFF) < 0, "a kernel wrote before the start of a buffer");
    }

    public void Dispose()
    {
        foreach (var s in _buffers) _emu.GuardedFree(s.Address);
        _buffers.Clear();
    }

    sealed class EmuStorage(nint address, long byteLength) : Storage(byteLength)
    {
        public nint Address { get; } = address;
    }

    static byte* Base(Tensor t) =>
        t.Storage is EmuStorage s ? (byte*)s.Address : throw new ArgumentException($"{t} is not emulator memory");

    static long ElementOffset(Tensor t, long linear)
    {
        long off = t.Offset;
        for (int d = t.Rank - 1; d >= 0; d--)
        {
            int n = t.Dim(d);
            off += linear % n * t.Strides[d];
            linear /= n;
        }
        return off;
    }

    static void Store(byte* p, DType dt, long e, float v)
    {
        switch (dt)
        {
            case DType.F32: ((float*)p)[e] = v; break;
            case DType.F16: ((Half*)p)[e] = (Half)v; break;
            case DType.BF16: ((ushort*)p)[e] = DTypeConvert.SingleToBFloat16(v); break;
            default: throw new NotSupportedException($"EmuMemory stores float dtypes only, not {dt}");
        }
    }

    static float Load(byte* p, DType dt, long e) => dt switch
    {
        DType.F32 => ((float*)p)[e],
        DType.F16 => (float)((Half*)p)[e],
        DType.BF16 => DTypeConvert.BFloat16ToSingle(((ushort*)p)[e]),
        _ => throw new NotSupportedException($"EmuMemory loads float dtypes only, not {dt}"),
    };
}
