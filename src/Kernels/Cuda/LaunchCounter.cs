namespace XDit.Kernels.Cuda;

/// <summary>
/// Counts the device work one <see cref="CudaOps"/> queues: every kernel launch (<see cref="KernelLibrary.Launch"/>),
/// every cuBLASLt/cuBLAS GEMM, cuDNN convolution and cuDNN attention plan run, every device-to-device copy and memset. The launch ledger
/// (XDit.Kernels.Ledger) reads <see cref="Total"/> before and after each op, and names what ran through
/// <see cref="Observer"/>. One counter per CudaOps, which is used from one thread.
/// </summary>
public sealed class LaunchCounter
{
    /// <summary>Names of the library calls and driver operations that count as launches (kernels count by their name).</summary>
    public const string CublasLtMatmul = "cublasLtMatmul", CublasGemm = "cublasGemmStridedBatchedEx",
        CudnnConvolution = "cudnnConvolutionForward", CudnnAttention = "cudnnBackendExecute", MemcpyDeviceToDevice = "cuMemcpyDtoDAsync", Memset = "cuMemsetD8Async";

    /// <summary>Launches since this counter was made.</summary>
    public long Total { get; private set; }

    /// <summary>Called with the name of each launch (a kernel's, or one of the constants above); null: nobody listens.</summary>
    public Action<string>? Observer { get; set; }

    public void Count(string what)
    {
        Total++;
        Observer?.Invoke(what);
    }
}
