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

    public static IOps Create(string device, DType? dtype = null)
    {
        var d = device.Trim().ToLowerInvariant();
        if (d == "cpu")
        {
            if (dtype is not null and not DType.F32) throw new NotSupportedException($"the CPU backend computes in float32 only, not {dtype}");
            return new CpuOps();
        }
        if (IsCuda(d))
        {
            int ordinal = 0;
            if (d.Length > 5 && !int.TryParse(d[5..], out ordinal))
                throw new ArgumentException($"unknown device '{device}' (expected cpu, cuda or cuda:N)");
            // One clear line when the driver or a toolkit library is missing; the CPU path keeps working.
            if (!CudaLibraries.TryLoad(out var problem))
                throw new NotSupportedException($"--device {device}: {problem}");
            if (dtype is not (null or DType.BF16 or DType.F16 or DType.F32))
                throw new NotSupportedException($"the CUDA backend keeps activations in bf16, f16 or f32, not {dtype}");
            return new CudaOps(ordinal, dtype ?? DType.BF16);
        }
        throw new ArgumentException($"unknown device '{device}' (expected cpu, cuda or cuda:N)");
    }
}
