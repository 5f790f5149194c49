using XDit.Kernels.Cuda;
using XDit.Runtime;

namespace XDit.Tests.Cuda;

/// <summary>All CUDA tests share one device and run one at a time (CudaOps is one stream, not thread-safe).</summary>
[CollectionDefinition("cuda", DisableParallelization = true)]
public sealed class CudaCollection;

/// <summary>Shared CudaOps per activation dtype, made on first use; tests skip with the reason when no device is here.</summary>
public static class CudaTestDevice
{
    static readonly Lazy<string?> Unavailable = new(() => CudaOps.IsAvailable(out var reason) ? null : reason);
    static readonly Dictionary<DType, CudaOps> Ops = new();

    /// <summary>Skips the calling test (with the one-line reason) unless CUDA works here.</summary>
    public static void RequireDevice()
    {
        var reason = Unavailable.Value;
        Assert.SkipWhen(reason is not null, $"no CUDA device: {reason}");
    }

    public static CudaOps Get(DType activation)
    {
        RequireDevice();
        lock (Ops)
        {
            if (!Ops.TryGetValue(activation, out var ops)) Ops[activation] = ops = new CudaOps(0, activation);
            return ops;
        }
    }

    /// <summary>Relative-error bound per activation dtype: bf16 ~1e-2, f16 ~2e-3, f32 float tolerance.</summary>
    public static double Tolerance(DType dt) => dt switch { DType.BF16 => 1e-2, DType.F16 => 2e-3, _ => 1e-5 };

    /// <summary>The values rounded to <paramref name="dt"/>, so CPU and GPU start from identical inputs.</summary>
    public static float[] Quantize(float[] x, DType dt)
    {
        var y = new float[x.Length];
        for (int i = 0; i < x.Length; i++)
            y[i] = dt switch
            {
                DType.BF16 => DTypeConvert.BFloat16ToSingle(DTypeConvert.SingleToBFloat16(x[i])),
                DType.F16 => (float)(Half)x[i],
                _ => x[i],
            };
        return y;
    }
}
