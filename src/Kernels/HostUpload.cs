using XDit.Runtime;

namespace XDit.Kernels;

/// <summary>
/// Host floats on a backend in a chosen dtype. <see cref="IOps.FromHost"/> gives the activations' dtype, which would
/// round a float32 value on a 16-bit device to 16 bits: the host-staged communicators (in-process, TCP) hand back
/// the dtype of the tensor they were given, as NCCL does (Ring attention's log-sum-exp, linear attention's sums, the
/// halo rows of a VAE decoded in float32), and the patch-parallel VAE's pooled GroupNorm keeps its sums in float32.
/// </summary>
public static class HostUpload
{
    public static Tensor As(IOps ops, float[] data, int[] dims, DType dtype)
    {
        if (dtype == ops.ActivationType) return ops.FromHost(data, dims);
        using var host = Tensor.FromArray(data, dims);
        var up = ops.Upload(host);   // float32 on the device (the CPU backend holds float32 anyway)
        if (up.DType == dtype) return up;
        using (up) return ops.Cast(up, dtype);
    }

    /// <summary><see cref="As(IOps, float[], int[], DType)"/> of a host tensor (a view of one is copied first).</summary>
    public static Tensor As(IOps ops, Tensor host, DType dtype) =>
        As(ops, host.IsContiguous ? host.Span<float>().ToArray() : host.ToFloatArray(), host.Dims, dtype);
}
