namespace XDit.Runtime;

/// <summary>Element types a tensor can hold. Names follow safetensors ("F32", "BF16", ...).</summary>
public enum DType { F32, F16, BF16, I64, I32, U8 }

public static class DTypeExtensions
{
    public static int SizeOf(this DType t) => t switch
    {
        DType.F32 or DType.I32 => 4,
        DType.F16 or DType.BF16 => 2,
        DType.I64 => 8,
        DType.U8 => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "unknown dtype"),
    };

    public static bool IsFloat(this DType t) => t is DType.F32 or DType.F16 or DType.BF16;

    /// <summary>The safetensors spelling of the dtype.</summary>
    public static string SafetensorsName(this DType t) => t.ToString();

    /// <summary>Parses a safetensors dtype name; returns false for names we do not support.</summary>
    public static bool TryParseSafetensors(string name, out DType t)
    {
        switch (name)
        {
            case "F32": t = DType.F32; return true;
            case "F16": t = DType.F16; return true;
            case "BF16": t = DType.BF16; return true;
            case "I64": t = DType.I64; return true;
            case "I32": t = DType.I32; return true;
            case "U8": t = DType.U8; return true;
            default: t = default; return false;
        }
    }
}
