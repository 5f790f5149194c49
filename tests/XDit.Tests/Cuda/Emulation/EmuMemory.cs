using XDit.Runtime;

namespace XDit.Tests.Cuda.Emulation;

/// <summary>
/// Host memory standing in for device memory in emulated launches. Every buffer is pinned, 64-byte aligned (as
/// cuMemAlloc's are at least 16-byte aligned, so the kernels' vector paths are taken), starts filled with 0xFF bytes
/// (NaN in every float type: an output element the kernel forgot to write shows up), and sits between two guard
/// zones that <see cref="AssertGuardsIntact"/> checks, so a write out of bounds fails the test.
/// </summary>
public sealed unsafe class EmuMemory
{
    const int GuardBytes = 256;
    readonly List<(HostStorage Storage, long Start, long Length)> _buffers = new();

    /// <summary>A view of <paramref name="shape"/> (strides and offset in elements, contiguous by default) over a fresh
    /// NaN-filled buffer of <paramref name="elements"/> elements.</summary>
    public Tensor Alloc(DType dt, long elements, int[] shape, long[]? strides = null, long offset = 0)
    {
        long length = elements * dt.SizeOf();
        var s = new HostStorage(length + 2 * GuardBytes + 64);
        s.Bytes.AsSpan().Fill(0xFF);
        long start;
        fixed (byte* p = s.Bytes) start = GuardBytes + (64 - ((long)p + GuardBytes) % 64) % 64;
        _buffers.Add((s, start, length));
        return new Tensor(s, dt, shape, strides, start / dt.SizeOf() + offset);
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
        var bytes = ((HostStorage)t.Storage).Bytes;
        for (long i = 0; i < values.Length; i++) Store(bytes, t.DType, ElementOffset(t, i), values[i]);
    }

    /// <summary>The view's elements as floats, in logical order.</summary>
    public static float[] Read(Tensor t)
    {
        var bytes = ((HostStorage)t.Storage).Bytes;
        var r = new float[t.NumElements];
        for (long i = 0; i < r.Length; i++) r[i] = Load(bytes, t.DType, ElementOffset(t, i));
        return r;
    }

    /// <summary>The address of the view's first element: the "device pointer" a kernel gets.</summary>
    public static ulong Pointer(Tensor t, string what)
    {
        if (t.Storage is not HostStorage hs) throw new ArgumentException($"{what} {t} is not emulator memory");
        fixed (byte* p = hs.Bytes) return (ulong)p + (ulong)(t.Offset * t.DType.SizeOf());
    }

    public void AssertGuardsIntact()
    {
        foreach (var (s, start, length) in _buffers)
        {
            var b = s.Bytes.AsSpan();
            Assert.True(b[..(int)start].IndexOfAnyExcept((byte)0xFF) < 0, "a kernel wrote before the start of a buffer");
            Assert.True(b[(int)(start + length)..].IndexOfAnyExcept((byte)0xFF) < 0, "a kernel wrote past the end of a buffer");
        }
    }

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

    static void Store(byte[] b, DType dt, long e, float v)
    {
        fixed (byte* p = b)
            switch (dt)
            {
                case DType.F32: ((float*)p)[e] = v; break;
                case DType.F16: ((Half*)p)[e] = (Half)v; break;
                case DType.BF16: ((ushort*)p)[e] = DTypeConvert.SingleToBFloat16(v); break;
                default: throw new NotSupportedException($"EmuMemory stores float dtypes only, not {dt}");
            }
    }

    static float Load(byte[] b, DType dt, long e)
    {
        fixed (byte* p = b)
            return dt switch
            {
                DType.F32 => ((float*)p)[e],
                DType.F16 => (float)((Half*)p)[e],
                DType.BF16 => DTypeConvert.BFloat16ToSingle(((ushort*)p)[e]),
                _ => throw new NotSupportedException($"EmuMemory loads float dtypes only, not {dt}"),
            };
    }
}
