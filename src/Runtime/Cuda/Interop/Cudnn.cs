using System.Runtime.InteropServices;

namespace XDit.Runtime.Cuda.Interop;

/// <summary>cuDNN 9 legacy convolution API (cudnn_graph.h / cudnn_cnn.h), enough for a forward convolution.
/// Returns cudnnStatus_t; wrap it in <see cref="Check.Cudnn"/>.</summary>
public static unsafe partial class Cudnn
{
    static Cudnn() => CudaLibraries.EnsureResolver();

    const string Lib = CudaLibraries.Cudnn;

    [LibraryImport(Lib)] public static partial nuint cudnnGetVersion();
    [LibraryImport(Lib)] public static partial byte* cudnnGetErrorString(int status);
    [LibraryImport(Lib)] public static partial void cudnnGetLastErrorString(byte* message, nuint max);
    [LibraryImport(Lib)] public static partial int cudnnCreate(nint* handle);
    [LibraryImport(Lib)] public static partial int cudnnDestroy(nint handle);
    [LibraryImport(Lib)] public static partial int cudnnSetStream(nint handle, nint stream);
    [LibraryImport(Lib)] public static partial int cudnnCreateTensorDescriptor(nint* desc);
    [LibraryImport(Lib)] public static partial int cudnnDestroyTensorDescriptor(nint desc);
    [LibraryImport(Lib)] public static partial int cudnnSetTensor4dDescriptor(nint desc, int format, int dataType, int n, int c, int h, int w);
    [LibraryImport(Lib)] public static partial int cudnnCreateFilterDescriptor(nint* desc);
    [LibraryImport(Lib)] public static partial int cudnnDestroyFilterDescriptor(nint desc);
    [LibraryImport(Lib)] public static partial int cudnnSetFilter4dDescriptor(nint desc, int dataType, int format, int k, int c, int h, int w);
    [LibraryImport(Lib)] public static partial int cudnnCreateConvolutionDescriptor(nint* desc);
    [LibraryImport(Lib)] public static partial int cudnnDestroyConvolutionDescriptor(nint desc);
    [LibraryImport(Lib)] public static partial int cudnnSetConvolution2dDescriptor(nint desc, int padH, int padW, int strideH, int strideW,
        int dilationH, int dilationW, int mode, int computeType);
    [LibraryImport(Lib)] public static partial int cudnnSetConvolutionMathType(nint desc, int mathType);
    [LibraryImport(Lib)] public static partial int cudnnGetConvolutionForwardAlgorithm_v7(nint handle, nint x, nint w, nint conv, nint y,
        int requested, int* returned, CudnnConvFwdAlgoPerf* perf);
    [LibraryImport(Lib)] public static partial int cudnnGetConvolutionForwardWorkspaceSize(nint handle, nint x, nint w, nint conv, nint y, int algo, nuint* bytes);
    [LibraryImport(Lib)] public static partial int cudnnConvolutionForward(nint handle, void* alpha, nint xDesc, ulong x, nint wDesc, ulong w,
        nint conv, int algo, ulong workspace, nuint workspaceBytes, void* beta, nint yDesc, ulong y);
}

/// <summary>cudnnConvolutionFwdAlgoPerf_t = { algo, status, float time, size_t memory, determinism, mathType, int reserved[3] } (48 B).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct CudnnConvFwdAlgoPerf
{
    public int Algo;
    public int Status;
    public float Time;
    public nuint Memory;
    public int Determinism;
    public int MathType;
    public fixed int Reserved[3];
}

/// <summary>Enum values (cudnn_graph.h / cudnn_cnn.h, runtimes.md §6e).</summary>
public static class CudnnEnums
{
    public const int Float = 0, Half = 2, BFloat16 = 9;
    public const int FormatNchw = 0;
    public const int CrossCorrelation = 1;
    public const int MathDefault = 0, MathTensorOp = 1, MathFma = 3;
    // cudnnConvolutionFwdAlgo_t
    public const int FwdAlgoImplicitGemm = 0, FwdAlgoFft = 4, FwdAlgoFftTiling = 5;
}
