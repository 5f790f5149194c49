using XDit.Runtime;

namespace XDit.Kernels.Cpu;

/// <summary>
/// Elementwise copy between two host views of equal shape, any strides, converting the dtype when they differ.
/// Walks the outer dimensions and copies one innermost row at a time, with a block copy when both rows are dense
/// and of the same dtype.
/// </summary>
internal static unsafe class StridedCopy
{
    public static void Copy(Tensor dst, Tensor src)
    {
        if (!Shape.Equal(dst.ShapeSpan, src.ShapeSpan))
            throw new ArgumentException($"copy: shapes differ: dst {Shape.Format(dst.ShapeSpan)} vs src {Shape.Format(src.ShapeSpan)}");
        if (dst.Storage is not HostStorage ds || src.Storage is not HostStorage ss)
            throw new ArgumentException("copy: both tensors must live in host memory");
        if (dst.NumElements == 0) return;
        int rank = dst.Rank;
        int inner = rank == 0 ? 1 : dst.ShapeSpan[rank - 1];
        long dStep = rank == 0 ? 1 : dst.Strides[rank - 1], sStep = rank == 0 ? 1 : src.Strides[rank - 1];
        long rows = dst.NumElements / inner;
        int dSize = dst.DType.SizeOf(), sSize = src.DType.SizeOf();
        var idx = new int[Math.Max(0, rank - 1)];
        fixed (byte* dBase = ds.Bytes, sBase = ss.Bytes)
        {
            for (long r = 0; r < rows; r++)
            {
                long dOff = dst.Offset, sOff = src.Offset;
                for (int i = 0; i < idx.Length; i++) { dOff += idx[i] * dst.Strides[i]; sOff += idx[i] * src.Strides[i]; }
                Row(dBase + dOff * dSize, dStep, dst.DType, sBase + sOff * sSize, sStep, src.DType, inner);
                for (int i = idx.Length - 1; i >= 0; i--) { if (++idx[i] < dst.ShapeSpan[i]) break; idx[i] = 0; }
            }
        }
    }

    static void Row(byte* d, long dStep, DType dt, byte* s, long sStep, DType st, int n)
    {
        if (dt == st)
        {
            int size = dt.SizeOf();
            if (dStep == 1 && sStep == 1) { Buffer.MemoryCopy(s, d, (long)n * size, (long)n * size); return; }
            if (dt == DType.F32)
            {
                float* df = (float*)d, sf = (float*)s;
                for (int i = 0; i < n; i++) df[i * dStep] = sf[i * sStep];
                return;
            }
            for (int i = 0; i < n; i++) Buffer.MemoryCopy(s + i * sStep * size, d + i * dStep * size, size, size);
            return;
        }
        int dSize = dt.SizeOf(), sSize = st.SizeOf();
        bool ints = !dt.IsFloat() && !st.IsFloat();
        for (int i = 0; i < n; i++)
        {
            byte* sp = s + i * sStep * sSize, dp = d + i * dStep * dSize;
            if (ints) WriteLong(dp, dt, ReadLong(sp, st));
            else WriteFloat(dp, dt, ReadFloat(sp, st));
        }
    }

    public static float ReadFloat(byte* p, DType t) => t switch
    {
        DType.F32 => *(float*)p,
        DType.F16 => (float)*(Half*)p,
        DType.BF16 => DTypeConvert.BFloat16ToSingle(*(ushort*)p),
        DType.I64 => *(long*)p,
        DType.I32 => *(int*)p,
        DType.U8 => *p,
        _ => throw new NotSupportedException(t.ToString()),
    };

    public static void WriteFloat(byte* p, DType t, float v)
    {
        switch (t)
        {
            case DType.F32: *(float*)p = v; break;
            case DType.F16: *(Half*)p = (Half)v; break;
            case DType.BF16: *(ushort*)p = DTypeConvert.SingleToBFloat16(v); break;
            case DType.I64: *(long*)p = (long)v; break;
            case DType.I32: *(int*)p = (int)v; break;
            case DType.U8: *p = (byte)v; break;
            default: throw new NotSupportedException(t.ToString());
        }
    }

    static long ReadLong(byte* p, DType t) => t switch
    {
        DType.I64 => *(long*)p,
        DType.I32 => *(int*)p,
        DType.U8 => *p,
        _ => throw new NotSupportedException(t.ToString()),
    };

    static void WriteLong(byte* p, DType t, long v)
    {
        switch (t)
        {
            case DType.I64: *(long*)p = v; break;
            case DType.I32: *(int*)p = checked((int)v); break;
            case DType.U8: *p = checked((byte)v); break;
            default: throw new NotSupportedException(t.ToString());
        }
    }
}
