using XDit.Kernels;
using XDit.Kernels.Cpu;
using XDit.Kernels.Cuda;
using XDit.Runtime.Cuda;
using XDit.Runtime;

namespace XDit.Engine.Backends;

/// <summary>Makes the op set for a device name: "cpu", or "cuda"/"cuda:N".</summary>
public static class BackendFactory
{
    /// <summary>Whether <paramref name="device"/> names a CUDA device ("cuda" or "cuda:N", any case).</summary>
    public static bool IsCuda(string device)
    {
        var d = device.Trim().ToLowerInvariant();
        return d == "cuda" || d.StartsWith("cuda:", StringComparison.Ordinal);
    }

    /// <param name="attention">Which attention runs on CUDA; forcing cuDNN where its graph API is missing, or on the
    /// CPU, is one clear error here rather than at the first attention.</param>
    public static IOps Create(string device, DType? dtype = null, AttentionBackend attention = AttentionBackend.Auto)
    {
        var d = device.Trim().ToLowerInvariant();
        if (d == "cpu")
        {
            if (dtype is not null and not DType.F32) throw new NotSupportedException($"the CPU backend computes in float32 only, not {dtype}");
            if (attention == AttentionBackend.Cudnn) throw new NotSupportedException("--attention-backend cudnn needs --device cuda (the CPU has one attention)");
            return new CpuOps();
        }
        if (IsCuda(d))
        {
            int ordinal = 0;
            if (d.Length > 5 && !int.TryParse(d[5..], out ordinal))
                throw new ArgumentException($"unknown device '{device}' (expected cpu, cuda or cuda:N)");
            // One short line when the driver or a toolkit library is missing, with the ways forward; the CPU path keeps
            // working. `xdit info` lists each library and where it was looked for.
            if (!CudaLibraries.TryLoad(out _))
                throw new NotSupportedException(Unavailable(device));
            if (dtype is not (null or DType.BF16 or DType.F16 or DType.F32))
                throw new NotSupportedException($"the CUDA backend keeps activations in bf16, f16 or f32, not {dtype}");
            if (attention == AttentionBackend.Cudnn && !CudnnAttention.GraphApiAvailable(out var why))
                throw new NotSupportedException($"--attention-backend cudnn: cuDNN's graph API is not here ({why}); use auto or native");
            return new CudaOps(ordinal, dtype ?? DType.BF16) { AttentionBackend = attention };
        }
        throw new ArgumentException($"unknown device '{device}' (expected cpu, cuda or cuda:N)");
    }

    /// <summary>Why --device cuda cannot start here, in one line: the libraries missing (no driver at all, or which
    /// toolkit libraries), then the ways forward: the CPU, `xdit info`, the CPU emulator of the CUDA libraries.</summary>
    static string Unavailable(string device)
    {
        var missing = CudaLibraries.Required.Select(CudaLibraries.Load).Where(s => !s.Found).Select(s => s.Spec).ToList();
        var what = missing.Count > 0 && missing[0] == CudaLibraries.Required[0]
            ? $"no NVIDIA driver here ({missing[0].Candidates[0]} not found)"
            : $"{string.Join(", ", missing.Select(s => s.Candidates[0]))} not found (CUDA toolkit libraries; LD_LIBRARY_PATH)";
        return $"--device {device}: {what}. Use --device cpu; `xdit info` shows what was found; "
            + $"the CUDA backend also runs on its CPU emulator (native/emu/build.sh DIR, then {CudaLibraries.LibraryDirVariable}=DIR)";
    }
}
