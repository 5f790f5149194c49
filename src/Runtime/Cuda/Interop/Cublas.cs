using System.Runtime.InteropServices;

namespace XDit.Runtime.Cuda.Interop;

/// <summary>cuBLAS (cublas_api.h): only what XDit needs besides cuBLASLt (status names, version, and the plain
/// batched GEMM used as a fallback). Returns cublasStatus_t; wrap it in <see cref="Check.Cublas"/>.</summary>
public static unsafe partial class Cublas
{
    static Cublas() => CudaLibraries.EnsureResolver();

    const string Lib = CudaLibraries.Cublas;

    [LibraryImport(Lib)] public static partial byte* cublasGetStatusName(int status);
    /// <summary>libraryPropertyType: MAJOR_VERSION 0, MINOR_VERSION 1, PATCH_LEVEL 2.</summary>
    [LibraryImport(Lib)] public static partial int cublasGetProperty(int type, int* value);
    [LibraryImport(Lib, EntryPoint = "cublasCreate_v2")] public static partial int cublasCreate(nint* handle);
    [LibraryImport(Lib, EntryPoint = "cublasDestroy_v2")] public static partial int cublasDestroy(nint handle);
    [LibraryImport(Lib, EntryPoint = "cublasSetStream_v2")] public static partial int cublasSetStream(nint handle, nint stream);
    [LibraryImport(Lib, EntryPoint = "cublasSetWorkspace_v2")] public static partial int cublasSetWorkspace(nint handle, ulong workspace, nuint bytes);
    [LibraryImport(Lib)] public static partial int cublasSetMathMode(nint handle, int mode);
    [LibraryImport(Lib)] public static partial int cublasGemmStridedBatchedEx(nint handle, int transa, int transb, int m, int n, int k,
        void* alpha, ulong a, int aType, int lda, long strideA, ulong b, int bType, int ldb, long strideB,
        void* beta, ulong c, int cType, int ldc, long strideC, int batchCount, int computeType, int algo);
}

/// <summary>cuBLASLt (cublasLt.h). Returns cublasStatus_t; wrap it in <see cref="Check.Cublas"/>.</summary>
public static unsafe partial class CublasLt
{
    static CublasLt() => CudaLibraries.EnsureResolver();

    const string Lib = CudaLibraries.CublasLt;

    [LibraryImport(Lib)] public static partial nuint cublasLtGetVersion();
    [LibraryImport(Lib)] public static partial int cublasLtCreate(nint* handle);
    [LibraryImport(Lib)] public static partial int cublasLtDestroy(nint handle);
    [LibraryImport(Lib)] public static partial int cublasLtMatmulDescCreate(nint* desc, int computeType, int scaleType);
    [LibraryImport(Lib)] public static partial int cublasLtMatmulDescDestroy(nint desc);
    [LibraryImport(Lib)] public static partial int cublasLtMatmulDescSetAttribute(nint desc, int attr, void* buf, nuint bytes);
    [LibraryImport(Lib)] public static partial int cublasLtMatrixLayoutCreate(nint* layout, int type, ulong rows, ulong cols, long ld);
    [LibraryImport(Lib)] public static partial int cublasLtMatrixLayoutDestroy(nint layout);
    [LibraryImport(Lib)] public static partial int cublasLtMatrixLayoutSetAttribute(nint layout, int attr, void* buf, nuint bytes);
    [LibraryImport(Lib)] public static partial int cublasLtMatmulPreferenceCreate(nint* pref);
    [LibraryImport(Lib)] public static partial int cublasLtMatmulPreferenceDestroy(nint pref);
    [LibraryImport(Lib)] public static partial int cublasLtMatmulPreferenceSetAttribute(nint pref, int attr, void* buf, nuint bytes);
    [LibraryImport(Lib)] public static partial int cublasLtMatmulAlgoGetHeuristic(nint handle, nint desc, nint aDesc, nint bDesc, nint cDesc, nint dDesc,
        nint pref, int requested, CublasLtHeuristicResult* results, int* returned);
    [LibraryImport(Lib)] public static partial int cublasLtMatmul(nint handle, nint desc, void* alpha, ulong a, nint aDesc, ulong b, nint bDesc,
        void* beta, ulong c, nint cDesc, ulong d, nint dDesc, CublasLtAlgo* algo, ulong workspace, nuint workspaceBytes, nint stream);
}

/// <summary>cublasLtMatmulAlgo_t: 8 × uint64, opaque.</summary>
[StructLayout(LayoutKind.Sequential, Size = 64)]
public unsafe struct CublasLtAlgo { public fixed ulong Data[8]; }

/// <summary>cublasLtMatmulHeuristicResult_t = { algo (64 B), size_t workspaceSize, int state, float wavesCount, int reserved[4] } = 96 B.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct CublasLtHeuristicResult
{
    public CublasLtAlgo Algo;
    public nuint WorkspaceSize;
    public int State;
    public float WavesCount;
    public fixed int Reserved[4];
}

/// <summary>Enum values from cublas_api.h / library_types.h / cublasLt.h (runtimes.md §6c-d).</summary>
public static class BlasEnums
{
    // cublasStatus_t
    public const int NotSupported = 15;
    // cudaDataType
    public const int R32F = 0, R16F = 2, R16BF = 14;
    // cublasComputeType_t
    public const int Compute32F = 68, Compute32FPedantic = 69;
    // cublasOperation_t
    public const int OpN = 0, OpT = 1;
    public const int GemmDefault = -1;
    // cublasLtMatmulDescAttributes_t
    public const int DescTransA = 3, DescTransB = 4, DescEpilogue = 7, DescBiasPointer = 8, DescBiasDataType = 26;
    public const int DescPointerMode = 2, DescBiasBatchStride = 10, DescAlphaVectorBatchStride = 14;
    // cublasLtPointerMode_t: alpha a device vector (one scale-type value per row of D), beta a host scalar
    public const int PointerModeHost = 0, PointerModeAlphaDeviceVectorBetaHost = 4;
    // cublasLtEpilogue_t
    public const uint EpilogueDefault = 1, EpilogueRelu = 2, EpilogueBias = 4, EpilogueReluBias = 6, EpilogueGelu = 32, EpilogueGeluBias = 36;
    // cublasLtMatrixLayoutAttribute_t
    public const int LayoutBatchCount = 5, LayoutStridedBatchOffset = 6;
    // cublasLtMatmulPreferenceAttributes_t
    public const int PrefMaxWorkspaceBytes = 1, PrefMinAlignmentA = 5, PrefMinAlignmentB = 6, PrefMinAlignmentC = 7, PrefMinAlignmentD = 8;
}
