using System.Runtime.InteropServices;
using XDit.Runtime.Cuda.Interop;

namespace XDit.Runtime.Cuda;

/// <summary>A CUDA, NVRTC, cuBLAS(Lt) or cuDNN call returned an error status. The message names the exported
/// symbol and the status name, e.g. <c>cuMemAlloc_v2: CUDA_ERROR_OUT_OF_MEMORY</c>.</summary>
public sealed class CudaException : Exception
{
    public CudaException(string call, int status, string statusName, string? detail = null)
        : base(detail is null ? $"{call}: {statusName}" : $"{call}: {statusName} ({detail})")
    {
        Call = call;
        Status = status;
        StatusName = statusName;
    }

    public string Call { get; }
    public int Status { get; }
    public string StatusName { get; }
}

/// <summary>The one place every native status goes through.</summary>
public static unsafe class Check
{
    /// <summary>Driver API (CUresult; 0 = CUDA_SUCCESS).</summary>
    public static void Cu(int status, string call)
    {
        if (status != 0) throw new CudaException(call, status, CuName(status));
    }

    public static string CuName(int status)
    {
        try
        {
            byte* s = null;
            if (Driver.cuGetErrorName(status, &s) == 0 && s != null) return Marshal.PtrToStringUTF8((nint)s) ?? $"CUresult {status}";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
        return $"CUresult {status}";
    }

    /// <summary>NVRTC (nvrtcResult; 0 = NVRTC_SUCCESS). <paramref name="log"/> carries the compiler log on failure.</summary>
    public static void Nvrtc(int status, string call, string? log = null)
    {
        if (status == 0) return;
        string name = $"nvrtcResult {status}";
        try
        {
            byte* s = Interop.Nvrtc.nvrtcGetErrorString(status);
            if (s != null) name = Marshal.PtrToStringUTF8((nint)s) ?? name;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
        throw new CudaException(call, status, name, log);
    }

    /// <summary>cuBLAS and cuBLASLt (cublasStatus_t; 0 = CUBLAS_STATUS_SUCCESS).</summary>
    public static void Cublas(int status, string call)
    {
        if (status == 0) return;
        string name = $"cublasStatus {status}";
        try
        {
            byte* s = Interop.Cublas.cublasGetStatusName(status);
            if (s != null) name = Marshal.PtrToStringUTF8((nint)s) ?? name;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
        throw new CudaException(call, status, name);
    }

    /// <summary>cuDNN (cudnnStatus_t; 0 = CUDNN_STATUS_SUCCESS); adds cuDNN's last error text when it has one.</summary>
    public static void Cudnn(int status, string call)
    {
        if (status == 0) return;
        string name = $"cudnnStatus {status}";
        string? detail = null;
        try
        {
            byte* s = Interop.Cudnn.cudnnGetErrorString(status);
            if (s != null) name = Marshal.PtrToStringUTF8((nint)s) ?? name;
            var buf = stackalloc byte[512];
            buf[0] = 0;
            Interop.Cudnn.cudnnGetLastErrorString(buf, 512);
            detail = Marshal.PtrToStringUTF8((nint)buf);
            if (string.IsNullOrWhiteSpace(detail)) detail = null;
            else detail = detail.ReplaceLineEndings(" ").Trim();
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
        throw new CudaException(call, status, name, detail);
    }
}
