using XDit.Runtime;

namespace XDit.Kernels.Cuda;

// A GEMM whose epilogue is the block's gated residual: x ← x + gate·(y·Wᵀ + b), one cuBLASLt matmul with alpha the
// gate (a device vector per output feature, one per batch), beta = 1 and C = D = x, so the projection's output
// never goes to memory and no gated_residual pass reads it back. Without a gate (a plain residual) alpha is the
// scalar 1 and the bias goes in as it is: nothing to prepare.
public sealed unsafe partial class CudaOps
{
    /// <summary>Gated-residual GEMMs that cuBLASLt had no algorithm for and that ran as a GEMM, then the fused gated
    /// residual, then a copy into x.</summary>
    public int GatedEpilogueFallbacks { get; private set; }

    /// <summary>With <paramref name="output"/>, C = x and D = output (cuBLASLt reads C and writes D, of one layout).</summary>
    public void LinearGatedResidualInto(Tensor x, Tensor y, Tensor w, Tensor? bias, Tensor? gate, Tensor? output = null)
    {
        OpContracts.LinearGatedResidualInto(x, y, w, bias, gate, output);
        Enter();
        int B = x.Dim(0), N = x.Dim(1), dOut = w.Dim(0), k = w.Dim(1);
        if ((long)B * N * dOut == 0) return;
        var dt = x.DType;
        var d = output ?? x;
        if (k == 0 || !x.IsContiguous || !TryGatedGemm(x, d, y, w, bias, gate, B, N, dOut, k, dt))
        {
            using var p = Linear(y, w, bias);
            using var r = gate is null ? Add(x, p) : GatedResidual(x, gate, p);
            Copy(d, r);
        }
    }

    bool TryGatedGemm(Tensor x, Tensor d, Tensor y, Tensor w, Tensor? bias, Tensor? gate, int B, int N, int dOut, int k, DType dt)
    {
        if (gate is null) return TryResidualGemm(x, d, y, w, bias, B, N, dOut, k, dt);
        long gStride = OpContracts.BatchStride(x, gate);
        // cuBLASLt wants the bias 16-byte aligned in every batch; the alpha vector (F32) is kept so too, since
        // nothing tells the heuristic its alignment
        if (bias is not null && gStride * dt.SizeOf() % 16 != 0) return false;
        if (gStride * sizeof(float) % 16 != 0) return false;
        if (gate.Strides[^1] != 1 && dOut > 1) return false;   // a gate with strided features: the contract allows it, no block passes it
        using var wc = Dense(w, dt);
        using var yc = GemmRows(y, B, N, k, dt, out long ldy, out long strideY);
        using var bc = bias is null ? default : Dense(bias);
        // one pass over the gate (read in place): alpha in the scale type (F32) and, since cuBLASLt adds the bias
        // after alpha, the bias pre-multiplied by the gate, in x's dtype; both [Bg, D] with Bg = 1 for a shared gate
        int rowsG = gStride == 0 ? 1 : B;
        long gateRow = gStride == 0 ? 0 : gate.Strides[0];
        ulong alphaPtr, biasPtr;
        Temp alpha = default, gb = default;
        if (_gates?.Find(gate, bias, dt) is { } prepared) (alphaPtr, biasPtr) = prepared;
        else
        {
            alpha = Temp.Own(Empty(DType.F32, rowsG, dOut));
            gb = bias is null ? default : Temp.Own(Empty(dt, rowsG, dOut));
            alphaPtr = Ptr(alpha.T);
            biasPtr = bias is null ? 0 : Ptr(gb.T, "gate·bias");
            Launch(CudaKernels.GateAlphaBias, (long)rowsG * dOut,
                [alphaPtr, biasPtr, (int)dt, Ptr(gate, "gate"), (int)gate.DType, gateRow, PtrOrZero(bc.TOrNull, "bias"), (int)(bias?.DType ?? dt), (long)rowsG, (long)dOut]);
        }
        using var alphaOwned = alpha;
        using var gbOwned = gb;
        if (_lt.TryRunAccumulateScaled(dt, transA: true, m: dOut, n: N, k: k,
                a: Ptr(wc.T), lda: k, strideA: 0, b: Ptr(yc.T), ldb: ldy, strideB: strideY,
                d: Ptr(d, "output"), ldd: dOut, strideD: (long)N * dOut, batch: B,
                alphaVector: alphaPtr, alphaStride: gStride == 0 ? 0 : dOut, bias: biasPtr, biasStride: gStride == 0 ? 0 : dOut, _stream.Handle,
                c: Ptr(x, "x")))
        {
            Launches.Count(LaunchCounter.CublasLtMatmul);
            return true;
        }
        GatedEpilogueFallbacks++;
        return false;
    }

    /// <summary>x + (y·Wᵀ + b): alpha and beta the scalar 1, the bias shared by every batch.</summary>
    bool TryResidualGemm(Tensor x, Tensor d, Tensor y, Tensor w, Tensor? bias, int B, int N, int dOut, int k, DType dt)
    {
        using var wc = Dense(w, dt);
        using var yc = GemmRows(y, B, N, k, dt, out long ldy, out long strideY);
        // the bias in D's dtype, as the plain GEMM's bias epilogue takes it
        using var bc = bias is null ? default : Dense(bias, dt);
        ulong biasPtr = PtrOrZero(bc.TOrNull, "bias");
        if (biasPtr % 16 != 0) return false;   // cuBLASLt wants the bias 16-byte aligned
        if (_lt.TryRunAccumulate(dt, transA: true, m: dOut, n: N, k: k,
                a: Ptr(wc.T), lda: k, strideA: 0, b: Ptr(yc.T), ldb: ldy, strideB: strideY,
                d: Ptr(d, "output"), ldd: dOut, strideD: (long)N * dOut, batch: B,
                bias: biasPtr, _stream.Handle, c: Ptr(x, "x")))
        {
            Launches.Count(LaunchCounter.CublasLtMatmul);
            return true;
        }
        GatedEpilogueFallbacks++;
        return false;
    }

    /// <summary>y [B, N, K] as the GEMM's B operand: read in place when its rows are dense (the attention's image or
    /// text rows of the joint output: rows D apart, batches (N + T)·D apart), otherwise a dense copy.</summary>
    Temp GemmRows(Tensor y, int B, int N, int k, DType dt, out long ldy, out long strideY)
    {
        bool yRows = y.DType == dt && y.Strides[2] == 1 && y.Strides[1] >= k && (B == 1 || y.Strides[0] >= (long)N * y.Strides[1]);
        ldy = yRows ? y.Strides[1] : k;
        strideY = yRows ? y.Strides[0] : (long)N * k;
        return yRows ? new Temp(y, null) : Dense(y, dt);
    }
}
