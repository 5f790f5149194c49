using XDit.Runtime;

namespace XDit.Cli.Commands;

/// <summary>The dtype names the CLI accepts.</summary>
public static class DTypeNames
{
    public static DType? Parse(string? s) => s?.ToLowerInvariant() switch
    {
        null => null,
        "f32" or "fp32" or "float32" => DType.F32,
        "bf16" or "bfloat16" => DType.BF16,
        "f16" or "fp16" or "float16" => DType.F16,
        _ => throw new ArgumentException($"unknown dtype '{s}' (expected f32, bf16 or f16)"),
    };
}
