using XDit.Runtime;
using static XDit.Runtime.Cuda.Interop.BlasEnums;

namespace XDit.Kernels.Cuda;

// GEMMs through cuBLASLt, or plain cuBLAS where cuBLASLt has no algorithm. Both are column-major, so a row-major
// product Y[M,N] = X[M,K]·Wᵀ is computed as the column-major D[N×M] = op(W)·X with op = transpose (W stored [N, K]
// as in PyTorch Linear).
public sealed unsafe partial class CudaOps
{
    public Tensor Linear(Tensor x, Tensor w, Tensor? bias = null, Activation act = Activation.None)
    {
        OpContracts.Linear(x, w, bias);
        Enter();
        var outShape = x.Dims;
        outShape[^1] = w.Dim(0);
        var y = Empty(x.DType, outShape);
        try { LinearCore(y, x, w, bias, act); }
        catch { y.Dispose(); throw; }
        return y;
    }

    public void LinearInto(Tensor y, Tensor x, Tensor w, Tensor? bias = null)
    {
        OpContracts.LinearInto(y, x, w, bias);
        Enter();
        LinearCore(y, x, w, bias, Activation.None);
    }

    /// <summary>y = act(x·Wᵀ + b) into y, a view with x's leading shape. x and y may be strided views whose rows
    /// are dense (slices of tokens, the image or text rows of a joint tensor): where their leading axes merge into
    /// at most (batch, row) with one stride each, the GEMM reads and writes them in place as a strided batch;
    /// otherwise through dense temporaries.</summary>
    void LinearCore(Tensor y, Tensor x, Tensor w, Tensor? bias, Activation act)
    {
        int n = w.Dim(0), k = w.Dim(1);
        var dt = x.DType;
        using var wc = Dense(w, dt);
        using var bc = bias is null ? default : Dense(bias, dt);
        long m = x.NumElements / Math.Max(k, 1);
        if (m == 0 || n == 0) return;
        if (!RowBatches(x, y, k, n, out var g))
        {
            // a layout the strided batch cannot express: dense input, dense output copied into y
            using var xc = Dense(x);
            if (y.IsContiguous) { LinearCore(y, xc.T, wc.T, bc.TOrNull, act); return; }
            using var tmp = NewLike(y);
            LinearCore(tmp, xc.T, wc.T, bc.TOrNull, act);
            Copy(y, tmp);
            return;
        }

        ulong biasPtr = bias is null ? 0 : Ptr(bc.T, "bias");
        // cuBLASLt wants a 16-byte aligned bias; an activation is fused only when the bias is fused too
        // (the epilogue applies bias first, then the activation).
        bool fuseBias = biasPtr != 0 && biasPtr % 16 == 0 && k > 0;
        bool fuseAct = k > 0 && (biasPtr == 0 || fuseBias)
            && (act is Activation.None or Activation.Relu || (act == Activation.GeluTanh && FuseGeluEpilogue));
        uint epi = (fuseBias, fuseAct ? act : Activation.None) switch
        {
            (true, Activation.Relu) => EpilogueReluBias,
            (true, Activation.GeluTanh) => EpilogueGeluBias,
            (true, _) => EpilogueBias,
            (false, Activation.Relu) => EpilogueRelu,
            (false, Activation.GeluTanh) => EpilogueGelu,
            _ => EpilogueDefault,
        };
        bool fused = false;
        if (k == 0) { ZeroRows(y); }
        else
            fused = Gemm(dt, transA: true, m: n, n: g.Rows, k: k,
                a: Ptr(wc.T), lda: k, strideA: 0, b: Ptr(x), ldb: g.XRow, strideB: g.XBatch, d: Ptr(y), ldd: g.YRow, strideD: g.YBatch,
                batch: g.Batch, alpha: 1f, epilogue: epi, bias: fuseBias ? biasPtr : 0);
        if (biasPtr == 0 || (fuseBias && fused)) biasPtr = 0;
        bool actLeft = act != Activation.None && !(fuseAct && fused);
        if (biasPtr == 0 && !actLeft) return;
        // what the epilogue did not do, on y (in place when dense, else through a dense copy)
        using var yd = y.IsContiguous ? new Temp(y, null) : Temp.Own(Contiguous(y));
        if (biasPtr != 0) BinaryInto(yd.T, yd.T, bc.T, 0);
        if (actLeft) ActivateInto(yd.T, yd.T, act);
        if (!y.IsContiguous) Copy(y, yd.T);
    }

    /// <summary>A GEMM's rows as a strided batch: Batch matrices of Rows rows, x's rows XRow elements apart and its
    /// matrices XBatch apart, likewise y.</summary>
    readonly record struct RowGeometry(int Batch, long Rows, long XRow, long XBatch, long YRow, long YBatch);

    /// <summary>Whether x [..., K] and y [..., N] (one leading shape, dense last axes) read and write as one strided
    /// batch: their leading axes merge (<see cref="StridedViews.Merge"/>) into (rows) or (batch, rows), with row
    /// strides that do not overlap rows.</summary>
    static bool RowBatches(Tensor x, Tensor y, int k, int n, out RowGeometry g)
    {
        g = default;
        if (x.Rank < 1 || (x.Strides[^1] != 1 && k > 1) || (y.Strides[^1] != 1 && n > 1)) return false;
        var (shape, ys, xs) = StridedViews.Merge(x.ShapeSpan[..^1], y.Strides[..^1], x.Strides[..^1]);
        if (shape.Length == 1)
        {
            // one run of rows; a single row has no row stride of its own
            long rows = shape[0];
            long xr = rows == 1 ? k : xs[0], yr = rows == 1 ? n : ys[0];
            if (xr < k || yr < n) return false;
            g = new RowGeometry(1, rows, xr, 0, yr, 0);
            return true;
        }
        if (shape.Length != 2 || shape[0] > int.MaxValue || xs[1] < k || ys[1] < n) return false;
        g = new RowGeometry((int)shape[0], shape[1], xs[1], xs[0], ys[1], ys[0]);
        return true;
    }

    /// <summary>Zeros in y's rows (a product over K = 0).</summary>
    void ZeroRows(Tensor y)
    {
        if (y.IsContiguous) { ZeroFill(y); return; }
        using var z = Zeros(y.DType, y.Dims);
        Copy(y, z);
    }

    /// <summary>GEMMs that cuBLASLt had no algorithm for, with their epilogue or at all, since this CudaOps was made.</summary>
    public int GemmFallbacks { get; private set; }

    /// <summary>Column-major D = alpha·op(A)·B [+ bias, epilogue] (<see cref="LtMatmul.TryRun"/>): through cuBLASLt with
    /// the epilogue, else through cuBLASLt without it, else through plain cuBLAS. True when the epilogue ran.</summary>
    bool Gemm(DType dt, bool transA, long m, long n, long k, ulong a, long lda, long strideA, ulong b, long ldb, long strideB,
        ulong d, long ldd, long strideD, int batch, float alpha, uint epilogue, ulong bias, DType? dtD = null)
    {
        var s = _stream.Handle;
        if (_lt.TryRun(dt, transA, false, m, n, k, a, lda, strideA, b, ldb, strideB, d, ldd, strideD, batch, alpha, epilogue, bias, s, dtD))
        {
            Launches.Count(LaunchCounter.CublasLtMatmul);
            return true;
        }
        GemmFallbacks++;
        if (epilogue != EpilogueDefault
            && _lt.TryRun(dt, transA, false, m, n, k, a, lda, strideA, b, ldb, strideB, d, ldd, strideD, batch, alpha, EpilogueDefault, 0, s, dtD))
        {
            Launches.Count(LaunchCounter.CublasLtMatmul);
            return false;
        }
        _blas.Run(dt, transA, false, m, n, k, a, lda, strideA, b, ldb, strideB, d, ldd, strideD, batch, alpha, s, dtD);
        Launches.Count(LaunchCounter.CublasGemm);
        return epilogue == EpilogueDefault;
    }

    void ZeroFill(Tensor y)
    {
        if (y.ByteCount > 0)
        {
            XDit.Runtime.Cuda.Check.Cu(XDit.Runtime.Cuda.Interop.Driver.cuMemsetD8Async(Ptr(y), 0, (nuint)y.ByteCount, _stream.Handle), "cuMemsetD8Async");
            Launches.Count(LaunchCounter.Memset);
        }
    }

    public Tensor MatMul(Tensor a, Tensor b, bool transposeB = false, float alpha = 1f)
    {
        OpContracts.MatMul(a, b, transposeB);
        Enter();
        int m = a.Dim(-2), k = a.Dim(-1);
        int n = transposeB ? b.Dim(-2) : b.Dim(-1);
        bool shared = b.Rank == 2;
        var dt = a.DType;
        using var ac = Dense(a);
        using var bc = Dense(b, dt);
        var outShape = a.Dims;
        outShape[^1] = n;
        var y = Empty(dt, outShape);
        long batch = a.NumElements / Math.Max(1L * m * k, 1);
        if (m == 0 || n == 0 || batch == 0) return y;
        if (k == 0) { ZeroFill(y); return y; }
        if (batch > int.MaxValue) throw new NotSupportedException($"MatMul: {batch} batches");
        // row-major C[M,N] = A·B  ⇔  column-major Cᵀ[N×M] = Bᵀ·Aᵀ, and a row-major matrix is its own transpose
        // read column-major: so A_lt = b (op = T when b is [N, K]), B_lt = a.
        Gemm(dt, transA: transposeB, m: n, n: m, k: k,
            a: Ptr(bc.T), lda: transposeB ? k : n, strideA: shared ? 0 : (long)n * k,
            b: Ptr(ac.T), ldb: k, strideB: (long)m * k,
            d: Ptr(y), ldd: n, strideD: (long)m * n, batch: (int)batch,
            alpha: alpha, epilogue: EpilogueDefault, bias: 0);
        return y;
    }
}
