using System.Runtime.InteropServices;

namespace XDit.Runtime.Cuda.Interop;

/// <summary>
/// cuDNN 9's backend (graph) API from cudnn_graph.h: descriptors made, given attributes, finalized, then an
/// execution plan run with a variant pack of device pointers. Returns cudnnStatus_t; wrap it in
/// <see cref="Check.Cudnn"/>. Entry points as runtimes.md §6e lists them.
/// </summary>
public static unsafe partial class CudnnBackend
{
    static CudnnBackend() => CudaLibraries.EnsureResolver();

    const string Lib = CudaLibraries.Cudnn;

    [LibraryImport(Lib)] public static partial int cudnnBackendCreateDescriptor(int descriptorType, nint* descriptor);
    [LibraryImport(Lib)] public static partial int cudnnBackendDestroyDescriptor(nint descriptor);
    [LibraryImport(Lib)] public static partial int cudnnBackendFinalize(nint descriptor);
    [LibraryImport(Lib)] public static partial int cudnnBackendSetAttribute(nint descriptor, int attributeName, int attributeType, long elementCount, void* elements);
    [LibraryImport(Lib)] public static partial int cudnnBackendGetAttribute(nint descriptor, int attributeName, int attributeType, long requestedElementCount,
        long* elementCount, void* elements);
    [LibraryImport(Lib)] public static partial int cudnnBackendExecute(nint handle, nint executionPlan, nint variantPack);
}

/// <summary>
/// The values of cudnn_graph.h (cuDNN 9) the fused attention graph uses, each checked against the header's text
/// (include/cudnn_graph.h of cuDNN 9.6, as stored in the code corpus under zspace/system.cuda-12.6; the enums
/// there are append-only across 9.x). Enumerations without explicit values in the header count from 0 in the
/// order written there; the comment beside each group says which.
/// </summary>
public static class CudnnGraph
{
    /// <summary>cudnnStatus_t: CUDNN_STATUS_SUCCESS 0, BAD_PARAM 2000, NOT_SUPPORTED 3000 (explicit in the header).</summary>
    public const int StatusSuccess = 0, StatusBadParam = 2000, StatusNotSupported = 3000;

    /// <summary>cudnnDataType_t (explicit): CUDNN_DATA_FLOAT 0, HALF 2, BFLOAT16 9.</summary>
    public const int DataFloat = 0, DataHalf = 2, DataBFloat16 = 9;

    /// <summary>cudnnBackendDescriptorType_t (implicit, from CUDNN_BACKEND_POINTWISE_DESCRIPTOR = 0): POINTWISE 0,
    /// ENGINECFG 3, ENGINEHEUR 4, EXECUTION_PLAN 5, OPERATION_POINTWISE 13, OPERATIONGRAPH 15, VARIANT_PACK 16,
    /// TENSOR 17, MATMUL 18, OPERATION_MATMUL 19, REDUCTION 21, OPERATION_REDUCTION 22.</summary>
    public const int PointwiseDescriptor = 0, EngineCfgDescriptor = 3, EngineHeurDescriptor = 4, ExecutionPlanDescriptor = 5,
        OperationPointwiseDescriptor = 13, OperationGraphDescriptor = 15, VariantPackDescriptor = 16, TensorDescriptor = 17,
        MatmulDescriptor = 18, OperationMatmulDescriptor = 19, ReductionDescriptor = 21, OperationReductionDescriptor = 22;

    /// <summary>cudnnBackendAttributeType_t (implicit, from CUDNN_TYPE_HANDLE = 0): HANDLE 0, DATA_TYPE 1, BOOLEAN 2,
    /// INT64 3, FLOAT 4, VOID_PTR 6, HEUR_MODE 8, POINTWISE_MODE 14, BACKEND_DESCRIPTOR 15,
    /// REDUCTION_OPERATOR_TYPE 18.</summary>
    public const int TypeHandle = 0, TypeDataType = 1, TypeBoolean = 2, TypeInt64 = 3, TypeFloat = 4, TypeVoidPtr = 6,
        TypeHeurMode = 8, TypePointwiseMode = 14, TypeBackendDescriptor = 15, TypeReductionOperator = 18;

    /// <summary>cudnnBackendAttributeName_t (explicit).</summary>
    public const int
        PointwiseMode = 0, PointwiseMathPrec = 1,                                                   // CUDNN_ATTR_POINTWISE_*
        EngineHeurMode = 200, EngineHeurOperationGraph = 201, EngineHeurResults = 202,              // CUDNN_ATTR_ENGINEHEUR_*
        ExecutionPlanHandle = 400, ExecutionPlanEngineConfig = 401, ExecutionPlanWorkspaceSize = 402, // CUDNN_ATTR_EXECUTION_PLAN_*
        OperationPointwisePwDescriptor = 750, OperationPointwiseXDesc = 751, OperationPointwiseBDesc = 752,
        OperationPointwiseYDesc = 753,                                                              // CUDNN_ATTR_OPERATION_POINTWISE_*
        OperationGraphHandle = 800, OperationGraphOps = 801,                                        // CUDNN_ATTR_OPERATIONGRAPH_*
        TensorByteAlignment = 900, TensorDataType = 901, TensorDimensions = 902, TensorStrides = 903,
        TensorUniqueId = 906, TensorIsVirtual = 907, TensorIsByValue = 908,                          // CUDNN_ATTR_TENSOR_*
        VariantPackUniqueIds = 1000, VariantPackDataPointers = 1001, VariantPackWorkspace = 1003,    // CUDNN_ATTR_VARIANT_PACK_*
        MatmulCompType = 1500,                                                                      // CUDNN_ATTR_MATMUL_COMP_TYPE
        OperationMatmulADesc = 1520, OperationMatmulBDesc = 1521, OperationMatmulCDesc = 1522,
        OperationMatmulDesc = 1523,                                                                 // CUDNN_ATTR_OPERATION_MATMUL_*
        ReductionOperator = 1600, ReductionCompType = 1601,                                         // CUDNN_ATTR_REDUCTION_*
        OperationReductionXDesc = 1610, OperationReductionYDesc = 1611, OperationReductionDesc = 1612; // CUDNN_ATTR_OPERATION_REDUCTION_*

    /// <summary>cudnnPointwiseMode_t (explicit): ADD 0, MUL 1, SUB 9, EXP 13, LOG 15, DIV 6.</summary>
    public const int PointwiseAdd = 0, PointwiseMul = 1, PointwiseDiv = 6, PointwiseSub = 9, PointwiseExp = 13, PointwiseLog = 15;

    /// <summary>cudnnReduceTensorOp_t (explicit): CUDNN_REDUCE_TENSOR_ADD 0, MAX 3.</summary>
    public const int ReduceAdd = 0, ReduceMax = 3;

    /// <summary>cudnnBackendHeurMode_t (explicit): INSTANT 0, B 1, FALLBACK 2, A 3.</summary>
    public const int HeurModeInstant = 0, HeurModeB = 1, HeurModeFallback = 2, HeurModeA = 3;
}
