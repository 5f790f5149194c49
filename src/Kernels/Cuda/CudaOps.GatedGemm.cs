using XDit.Runtime;

namespace XDit.Kernels.Cuda;

// A GEMM whose epilogue is the block's gated residual: x ← x + gate·(y·Wᵀ + b), one cuBLASLt matmul with alpha the
// gate (a device vector per output feature, one per batch), beta = 1 and C = D = x, so the projection's output
// never goes to memory and no gated_residual pass reads it back.
public sealed unsafe partial class CudaOps
{
    /// <summary>Gated-residual GEMMs that cuBLASLt had no algorithm for and that ran as a GEMM, then the fused gated
    /// residual, then a copy into x.</summary>
    public int GatedEpilogueFallbacks { get; private set; }

    public void LinearGatedResidualInto(Tensor x, Tensor y, Tensor w, Tensor? bias, Tensor gate)
    {
        OpContracts.LinearGatedResidualInto(x, y, w, bias, gate);
        Enter();
        int B = x.Dim(0), N = x.Dim(1), dOut = w.Dim(0), k = w.Dim(1);
        if ((long)B * N * dOut == 0) return;
        var dt = x.DType;
        if (k == 0 || !x.IsContiguous || !TryGatedGemm(x, y, w, bias, gate, B, N, dOut, k, dt))
        {
            using var p = Linear(y, w, bias);
            using var r = GatedResidual(x, gate, p);
            Copy(x, r);
        }
    }

    bool TryGatedGemm(Tensor x, Tensor y, Tensor w, Tensor? bias, Tensor gate, int B, int N, int dOut, int k, DType dt)
    {
        long gStride = OpContracts.BatchStride(x, gate);
        // cuBLASLt wants the bias 16-byte aligned in every batch; the alpha vector (F32) is kept so too, since
        // nothing tells the heuristic its alignment
        if (bias is not null && gStride * dt.SizeOf() % 16 != 0) return false;
        if (gStride * sizeof(float) % 16 != 0) return false;
        if (gate.Strides[^1] != 1 && dOut > 1) return false;   // a gate with strided features: the contract allows it, no block passes it
        using var wc = Dense(w, dt);
        using var yc = Dense(y, dt);
        using var bc = bias is null ? default : Dense(bias);
        // one pass over the gate (read in place): alpha in the scale type (F32) and, since cuBLASLt adds the bias
        // after alpha, the bias pre-multiplied by the gate, in x's dtype; both [Bg, D] with Bg = 1 for a shared gate
        int rowsG = gStride == 0 ? 1 : B;
        long gateRow = gStride == 0 ? 0 : gate.Strides[0];
        using var alpha = Temp.Own(Empty(DType.F32, rowsG, dOut));
        using var gb = bias is null ? default : Temp.Own(Empty(dt, rowsG, dOut));
        ulong biasPtr = bias is null ? 0 : Ptr(gb.T, "gate·bias");
        Launch(CudaKernels.GateAlphaBias, (long)rowsG * dOut,
            [Ptr(alpha.T), biasPtr, (int)dt, Ptr(gate, "gate"), (int)gate.DType, gateRow, PtrOrZero(bc.TOrNull, "bias"), (int)(bias?.DType ?? dt), (long)rowsG, (long)dOut]);
        if (_lt.TryRunAccumulateScaled(dt, transA: true, m: dOut, n: N, k: k,
                a: Ptr(wc.T), lda: k, strideA: 0, b: Ptr(yc.T), ldb: k, strideB: (long)N * k,
                d: Ptr(x), ldd: dOut, strideD: (long)N * dOut, batch: B,
                alphaVector: Ptr(alpha.T, "gate"), alphaStride: gStride == 0 ? 0 : dOut, bias: biasPtr, biasStride: gStride == 0 ? 0 : dOut, _stream.Handle))
        {
            Launches.Count(LaunchCounter.CublasLtMatmul);
            return true;
        }
        GatedEpilogueFallbacks++;
        return false;
    }
}
