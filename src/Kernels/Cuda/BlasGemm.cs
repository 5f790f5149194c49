using XDit.Runtime;
using XDit.Runtime.Cuda;
using XDit.Runtime.Cuda.Interop;
using static XDit.Runtime.Cuda.Interop.BlasEnums;

namespace XDit.Kernels.Cuda;

/// <summary>
/// The plain cuBLAS strided-batched GEMM (cublasGemmStridedBatchedEx, 32F compute, column-major like
/// <see cref="LtMatmul"/>), for the products cuBLASLt's heuristic has no algorithm for: cuBLAS takes any alignment
/// and leading dimension. No epilogues; the caller adds bias and activation. The handle is made on first use, so a
/// run that never needs it never pays for it.
/// </summary>
public sealed unsafe class BlasGemm : IDisposable
{
    readonly ulong _workspace;
    readonly long _workspaceBytes;
    nint _handle;

    public BlasGemm(ulong workspace, long workspaceBytes)
    {
        _workspace = workspace;
        _workspaceBytes = workspaceBytes;
    }

    /// <summary>D = alpha·op(A)·op(B), with <see cref="LtMatmul.TryRun"/>'s arguments and meaning.</summary>
    public void Run(DType dtype, bool transA, bool transB, long m, long n, long k,
        ulong a, long lda, long strideA, ulong b, long ldb, long strideB, ulong d, long ldd, long strideD, int batch,
        float alpha, nint stream, DType? dtypeD = null)
    {
        if (m > int.MaxValue || n > int.MaxValue || k > int.MaxValue || lda > int.MaxValue || ldb > int.MaxValue || ldd > int.MaxValue)
            throw new NotSupportedException($"cuBLAS GEMM of {m}x{n}x{k} (leading dims {lda}, {ldb}, {ldd}): beyond int32");
        int type = LtMatmul.DataType(dtype), typeD = LtMatmul.DataType(dtypeD ?? dtype);
        var h = Handle();
        Check.Cublas(Cublas.cublasSetStream(h, stream), "cublasSetStream_v2");
        float beta = 0f;
        Check.Cublas(Cublas.cublasGemmStridedBatchedEx(h, transA ? OpT : OpN, transB ? OpT : OpN, (int)m, (int)n, (int)k,
            &alpha, a, type, (int)lda, strideA, b, type, (int)ldb, strideB, &beta, d, typeD, (int)ldd, strideD, batch,
            Compute32F, GemmDefault), "cublasGemmStridedBatchedEx");
    }

    nint Handle()
    {
        if (_handle != 0) return _handle;
        nint h;
        Check.Cublas(Cublas.cublasCreate(&h), "cublasCreate_v2");
        try { Check.Cublas(Cublas.cublasSetWorkspace(h, _workspace, (nuint)_workspaceBytes), "cublasSetWorkspace_v2"); }
        catch
        {
            Cublas.cublasDestroy(h);
            throw;
        }
        return _handle = h;
    }

    public void Dispose()
    {
        if (_handle != 0) Cublas.cublasDestroy(_handle);
        _handle = 0;
    }
}
