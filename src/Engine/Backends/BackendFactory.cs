using XDit.Kernels;
using XDit.Kernels.Cpu;
using XDit.Runtime;

namespace XDit.Engine.Backends;

/// <summary>Makes the op set for a device name: "cpu", or "cuda"/"cuda:N".</summary>
public static class BackendFactory
{
    public static IOps Create(string device, DType? dtype = null)
    {
        var d = device.Trim().ToLowerInvariant();
        if (d == "cpu")
        {
            if (dtype is not null and not DType.F32) throw new NotSupportedException($"the CPU backend computes in float32 only, not {dtype}");
            return new CpuOps();
        }
        if (d == "cuda" || d.StartsWith("cuda:", StringComparison.Ordinal))
            throw new NotSupportedException("the CUDA backend is not part of this build yet; use --device cpu");
        throw new ArgumentException($"unknown device '{device}' (expected cpu, cuda or cuda:N)");
    }
}
