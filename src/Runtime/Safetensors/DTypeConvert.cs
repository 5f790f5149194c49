namespace XDit.Runtime;

/// <summary>Host-side dtype conversions (F16/BF16/ints to F32 and back).</summary>
public static class DTypeConvert
{
    /// <summary>Float32 copy of a contiguous host tensor of any supported dtype (the input itself when already F32).</summary>
    public static Tensor ToF32(Tensor t)
    {
        if (t.DType == DType.F32) return t;
        var result = new float[t.NumElements];
        switch (t.DType)
        {
            case DType.F16: { var s = t.Span<Half>(); for (int i = 0; i < result.Length; i++) result[i] = (float)s[i]; break; }
            case DType.BF16: { var s = t.Span<ushort>(); for (int i = 0; i < result.Length; i++) result[i] = BFloat16ToSingle(s[i]); break; }
            case DType.I64: { var s = t.Span<long>(); for (int i = 0; i < result.Length; i++) result[i] = s[i]; break; }
            case DType.I32: { var s = t.Span<int>(); for (int i = 0; i < result.Length; i++) result[i] = s[i]; break; }
            case DType.U8: { var s = t.Span<byte>(); for (int i = 0; i < result.Length; i++) result[i] = s[i]; break; }
            default: throw new NotSupportedException(t.DType.ToString());
        }
        return Tensor.FromArray(result, t.Dims);
    }

    public static float BFloat16ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>Round-to-nearest-even float → bfloat16 (NaN stays NaN).</summary>
    public static ushort SingleToBFloat16(float f)
    {
        uint u = (uint)BitConverter.SingleToInt32Bits(f);
        if ((u & 0x7fffffff) > 0x7f800000) return (ushort)((u >> 16) | 0x40);
        uint rounding = 0x7fff + ((u >> 16) & 1);
        return (ushort)((u + rounding) >> 16);
    }
}
