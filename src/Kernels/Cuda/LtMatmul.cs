using XDit.Runtime;
using XDit.Runtime.Cuda;
using XDit.Runtime.Cuda.Interop;
using static XDit.Runtime.Cuda.Interop.BlasEnums;

namespace XDit.Kernels.Cuda;

/// <summary>
/// cuBLASLt matmuls in column-major terms: D[m×n] = alpha·op(A)·op(B) (+ bias per row of D, + epilogue), batched
/// by strides. Descriptors and the heuristic's algorithm are built once per (shape, dtype, alignment, epilogue)
/// and reused; only the pointers change per call. F32 data uses the plain 32F compute type (no TF32), so F32 runs
/// stay at float tolerance; BF16/F16 data use 32F compute too (float accumulation).
/// </summary>
public sealed unsafe class LtMatmul : IDisposable
{
    readonly nint _handle;
    readonly ulong _workspace;
    readonly long _workspaceBytes;
    readonly Dictionary<PlanKey, Plan> _plans = new();

    public LtMatmul(ulong workspace, long workspaceBytes)
    {
        nint h;
        Check.Cublas(CublasLt.cublasLtCreate(&h), "cublasLtCreate");
        _handle = h;
        _workspace = workspace;
        _workspaceBytes = workspaceBytes;
    }

    public static int DataType(DType t) => t switch
    {
        DType.F32 => R32F,
        DType.F16 => R16F,
        DType.BF16 => R16BF,
        _ => throw new NotSupportedException($"GEMM on {t} tensors"),
    };

    readonly record struct PlanKey(int Type, int TypeD, bool TransA, bool TransB, long M, long N, long K, long Lda, long Ldb, long Ldd,
        int Batch, long StrideA, long StrideB, long StrideD, uint Epilogue, int AlignA, int AlignB, int AlignD,
        bool AlphaVector = false, long AlphaStride = 0, long BiasStride = 0);

    sealed class Plan
    {
        public nint Desc, A, B, D;
        public CublasLtAlgo Algo;
        public bool Supported;
    }

    /// <summary>The alignment every matrix of a strided batch has: that of the first pointer, lowered to that of
    /// the batch stride in bytes (matrix i starts at p + i·stride, e.g. an odd m·k in BF16 is only 2-byte aligned).</summary>
    static int Alignment(ulong p, long strideBytes, int batch)
    {
        if (batch > 1 && strideBytes != 0) p |= (ulong)strideBytes;
        int a = 256;
        while (a > 1 && p % (ulong)a != 0) a >>= 1;
        return a;
    }

    /// <summary>D = alpha·op(A)·op(B) [+ bias] with epilogue; A and B of one dtype, D of it too unless
    /// <paramref name="dtypeD"/> says otherwise. A is (transA ? k×m : m×k)
    /// with leading dimension lda, likewise B; D is m×n with ldd. Strides of 0 share one matrix across batches.</summary>
    /// <returns>false, with nothing queued, when the heuristic has no algorithm for this product (remembered, so
    /// it is asked once per shape); the caller then computes it another way.</returns>
    /// <param name="dtypeD">D's dtype when it differs from A's and B's (float32 scores from 16-bit inputs); null: the same</param>
    public bool TryRun(DType dtype, bool transA, bool transB, long m, long n, long k,
        ulong a, long lda, long strideA, ulong b, long ldb, long strideB, ulong d, long ldd, long strideD, int batch,
        float alpha, uint epilogue, ulong bias, nint stream, DType? dtypeD = null)
        => TryRunCore(dtype, transA, transB, m, n, k, a, lda, strideA, b, ldb, strideB, d, ldd, strideD, batch,
            alpha, 0, 0, 0f, epilogue, bias, 0, stream, dtypeD);

    /// <summary>D = diag(alpha_i)·op(A)·op(B) + D [+ bias_i] in place (C = D, beta = 1): alpha a device vector of
    /// F32, one value per row of D, batch i reading alphaVector + i·alphaStride (pointer mode
    /// ALPHA_DEVICE_VECTOR_BETA_HOST with ALPHA_VECTOR_BATCH_STRIDE); the bias, when given, of D's dtype and
    /// batch i at bias + i·biasStride (BIAS_BATCH_STRIDE). A gated residual in the GEMM's epilogue.</summary>
    /// <returns>false, with nothing queued, when the heuristic has no algorithm for it.</returns>
    public bool TryRunAccumulateScaled(DType dtype, bool transA, long m, long n, long k,
        ulong a, long lda, long strideA, ulong b, long ldb, long strideB, ulong d, long ldd, long strideD, int batch,
        ulong alphaVector, long alphaStride, ulong bias, long biasStride, nint stream, ulong c = 0)
        => TryRunCore(dtype, transA, false, m, n, k, a, lda, strideA, b, ldb, strideB, d, ldd, strideD, batch,
            0f, alphaVector, alphaStride, 1f, bias != 0 ? EpilogueBias : EpilogueDefault, bias, biasStride, stream, null, c);

    /// <summary>D = op(A)·op(B) + C [+ bias] (alpha = beta = 1; C = D unless <paramref name="c"/> is given, of D's
    /// layout): a plain residual in the GEMM's epilogue, the bias of D's dtype shared by every batch.</summary>
    /// <returns>false, with nothing queued, when the heuristic has no algorithm for it.</returns>
    public bool TryRunAccumulate(DType dtype, bool transA, long m, long n, long k,
        ulong a, long lda, long strideA, ulong b, long ldb, long strideB, ulong d, long ldd, long strideD, int batch,
        ulong bias, nint stream, ulong c = 0)
        => TryRunCore(dtype, transA, false, m, n, k, a, lda, strideA, b, ldb, strideB, d, ldd, strideD, batch,
            1f, 0, 0, 1f, bias != 0 ? EpilogueBias : EpilogueDefault, bias, 0, stream, null, c);

    bool TryRunCore(DType dtype, bool transA, bool transB, long m, long n, long k,
        ulong a, long lda, long strideA, ulong b, long ldb, long strideB, ulong d, long ldd, long strideD, int batch,
        float alpha, ulong alphaVector, long alphaStride, float beta, uint epilogue, ulong bias, long biasStride, nint stream, DType? dtypeD,
        ulong c = 0)
    {
        // C (read when beta ≠ 0) is D unless the caller gives another matrix of D's layout (an out-of-place accumulate)
        if (c == 0) c = d;
        int type = DataType(dtype), typeD = DataType(dtypeD ?? dtype);
        int size = dtype.SizeOf(), sizeD = (dtypeD ?? dtype).SizeOf();
        var key = new PlanKey(type, typeD, transA, transB, m, n, k, lda, ldb, ldd, batch, strideA, strideB, strideD, epilogue,
            Alignment(a, strideA * size, batch), Alignment(b, strideB * size, batch), Math.Min(Alignment(d, strideD * sizeD, batch), Alignment(c, strideD * sizeD, batch)),
            alphaVector != 0, alphaVector != 0 ? alphaStride : 0, bias != 0 ? biasStride : 0);
        Plan plan;
        lock (_plans)
        {
            if (!_plans.TryGetValue(key, out plan!)) _plans[key] = plan = Build(key);
        }
        if (!plan.Supported) return false;
        var algo = plan.Algo;
        lock (plan)   // the bias pointer lives in the shared descriptor: set and use it together
        {
            if (bias != 0)
                Check.Cublas(CublasLt.cublasLtMatmulDescSetAttribute(plan.Desc, DescBiasPointer, &bias, (nuint)sizeof(ulong)), "cublasLtMatmulDescSetAttribute(BIAS_POINTER)");
            // in the alpha-vector mode the alpha argument is the device vector itself
            void* alphaArg = alphaVector != 0 ? (void*)alphaVector : &alpha;
            Check.Cublas(CublasLt.cublasLtMatmul(_handle, plan.Desc, alphaArg, a, plan.A, b, plan.B, &beta, c, plan.D, d, plan.D,
                &algo, _workspace, (nuint)_workspaceBytes, stream), "cublasLtMatmul");
        }
        return true;
    }

    Plan Build(PlanKey key)
    {
        var p = new Plan();
        nint desc, la, lb, ld, pref = 0;
        Check.Cublas(CublasLt.cublasLtMatmulDescCreate(&desc, Compute32F, R32F), "cublasLtMatmulDescCreate");
        p.Desc = desc;
        int ta = key.TransA ? OpT : OpN, tb = key.TransB ? OpT : OpN;
        uint epi = key.Epilogue;
        Check.Cublas(CublasLt.cublasLtMatmulDescSetAttribute(desc, DescTransA, &ta, sizeof(int)), "cublasLtMatmulDescSetAttribute(TRANSA)");
        Check.Cublas(CublasLt.cublasLtMatmulDescSetAttribute(desc, DescTransB, &tb, sizeof(int)), "cublasLtMatmulDescSetAttribute(TRANSB)");
        Check.Cublas(CublasLt.cublasLtMatmulDescSetAttribute(desc, DescEpilogue, &epi, sizeof(uint)), "cublasLtMatmulDescSetAttribute(EPILOGUE)");
        if (key.AlphaVector)
        {
            int mode = PointerModeAlphaDeviceVectorBetaHost;
            long alphaStride = key.AlphaStride;
            Check.Cublas(CublasLt.cublasLtMatmulDescSetAttribute(desc, DescPointerMode, &mode, sizeof(int)), "cublasLtMatmulDescSetAttribute(POINTER_MODE)");
            Check.Cublas(CublasLt.cublasLtMatmulDescSetAttribute(desc, DescAlphaVectorBatchStride, &alphaStride, sizeof(long)), "cublasLtMatmulDescSetAttribute(ALPHA_VECTOR_BATCH_STRIDE)");
        }
        if (key.BiasStride != 0)
        {
            long biasStride = key.BiasStride;
            Check.Cublas(CublasLt.cublasLtMatmulDescSetAttribute(desc, DescBiasBatchStride, &biasStride, sizeof(long)), "cublasLtMatmulDescSetAttribute(BIAS_BATCH_STRIDE)");
        }

        long aRows = key.TransA ? key.K : key.M, aCols = key.TransA ? key.M : key.K;
        long bRows = key.TransB ? key.N : key.K, bCols = key.TransB ? key.K : key.N;
        Check.Cublas(CublasLt.cublasLtMatrixLayoutCreate(&la, key.Type, (ulong)aRows, (ulong)aCols, key.Lda), "cublasLtMatrixLayoutCreate(A)");
        Check.Cublas(CublasLt.cublasLtMatrixLayoutCreate(&lb, key.Type, (ulong)bRows, (ulong)bCols, key.Ldb), "cublasLtMatrixLayoutCreate(B)");
        Check.Cublas(CublasLt.cublasLtMatrixLayoutCreate(&ld, key.TypeD, (ulong)key.M, (ulong)key.N, key.Ldd), "cublasLtMatrixLayoutCreate(D)");
        p.A = la; p.B = lb; p.D = ld;
        if (key.Batch > 1)
        {
            SetBatch(la, key.Batch, key.StrideA);
            SetBatch(lb, key.Batch, key.StrideB);
            SetBatch(ld, key.Batch, key.StrideD);
        }
        try
        {
            Check.Cublas(CublasLt.cublasLtMatmulPreferenceCreate(&pref), "cublasLtMatmulPreferenceCreate");
            ulong ws = (ulong)_workspaceBytes;
            Check.Cublas(CublasLt.cublasLtMatmulPreferenceSetAttribute(pref, PrefMaxWorkspaceBytes, &ws, sizeof(ulong)), "cublasLtMatmulPreferenceSetAttribute(MAX_WORKSPACE_BYTES)");
            // Tell the heuristic how aligned the pointers really are (views into fused tensors may be only 2-byte
            // aligned); its default assumes 256 and may pick a kernel that faults otherwise.
            uint alA = (uint)key.AlignA, alB = (uint)key.AlignB, alD = (uint)key.AlignD;
            Check.Cublas(CublasLt.cublasLtMatmulPreferenceSetAttribute(pref, PrefMinAlignmentA, &alA, sizeof(uint)), "cublasLtMatmulPreferenceSetAttribute(MIN_ALIGNMENT_A_BYTES)");
            Check.Cublas(CublasLt.cublasLtMatmulPreferenceSetAttribute(pref, PrefMinAlignmentB, &alB, sizeof(uint)), "cublasLtMatmulPreferenceSetAttribute(MIN_ALIGNMENT_B_BYTES)");
            Check.Cublas(CublasLt.cublasLtMatmulPreferenceSetAttribute(pref, PrefMinAlignmentC, &alD, sizeof(uint)), "cublasLtMatmulPreferenceSetAttribute(MIN_ALIGNMENT_C_BYTES)");
            Check.Cublas(CublasLt.cublasLtMatmulPreferenceSetAttribute(pref, PrefMinAlignmentD, &alD, sizeof(uint)), "cublasLtMatmulPreferenceSetAttribute(MIN_ALIGNMENT_D_BYTES)");
            CublasLtHeuristicResult result;
            int returned = 0;
            int status = CublasLt.cublasLtMatmulAlgoGetHeuristic(_handle, desc, la, lb, ld, ld, pref, 1, &result, &returned);
            // no algorithm comes back as NOT_SUPPORTED or as success with none returned, depending on the version
            if (status != NotSupported) Check.Cublas(status, "cublasLtMatmulAlgoGetHeuristic");
            p.Supported = status == 0 && returned > 0;
            p.Algo = result.Algo;
        }
        finally
        {
            if (pref != 0) CublasLt.cublasLtMatmulPreferenceDestroy(pref);
        }
        return p;
    }

    static void SetBatch(nint layout, int batch, long stride)
    {
        Check.Cublas(CublasLt.cublasLtMatrixLayoutSetAttribute(layout, LayoutBatchCount, &batch, sizeof(int)), "cublasLtMatrixLayoutSetAttribute(BATCH_COUNT)");
        Check.Cublas(CublasLt.cublasLtMatrixLayoutSetAttribute(layout, LayoutStridedBatchOffset, &stride, sizeof(long)), "cublasLtMatrixLayoutSetAttribute(STRIDED_BATCH_OFFSET)");
    }

    public void Dispose()
    {
        lock (_plans)
        {
            foreach (var p in _plans.Values)
            {
                CublasLt.cublasLtMatrixLayoutDestroy(p.A);
                CublasLt.cublasLtMatrixLayoutDestroy(p.B);
                CublasLt.cublasLtMatrixLayoutDestroy(p.D);
                CublasLt.cublasLtMatmulDescDestroy(p.Desc);
            }
            _plans.Clear();
        }
        CublasLt.cublasLtDestroy(_handle);
    }
}
