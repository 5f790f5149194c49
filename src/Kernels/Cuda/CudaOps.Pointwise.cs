using XDit.Runtime;

namespace XDit.Kernels.Cuda;

// Elementwise ops (native/kernels/pointwise.cu). Outputs take the dtype of the main input.
public sealed unsafe partial class CudaOps
{
    public Tensor Activate(Tensor x, Activation act)
    {
        Enter();
        using var xc = Dense(x);
        var y = NewLike(x);
        ActivateInto(y, xc.T, act);
        return y;
    }

    /// <summary>y = act(x); both contiguous, same dtype; y may be x.</summary>
    void ActivateInto(Tensor y, Tensor x, Activation act)
    {
        ulong py = Ptr(y), px = Ptr(x);
        int dt = (int)x.DType, a = (int)act, vec = KernelVector.Flag([], (py, y.DType), (px, x.DType));
        long n = x.NumElements;
        Launch(CudaKernels.Activate, Steps(n), [py, px, dt, n, a, vec]);
    }

    public Tensor Add(Tensor a, Tensor b) => Binary(a, b, 0, "Add");
    public Tensor Mul(Tensor a, Tensor b) => Binary(a, b, 1, "Mul");

    Tensor Binary(Tensor a, Tensor b, int op, string name)
    {
        OpContracts.Broadcast(name, a, b);
        Enter();
        var y = NewLike(a);
        try { BinaryInto(y, a, b, op); }
        catch { y.Dispose(); throw; }
        return y;
    }

    /// <summary>out = a (op) b with b broadcast to a's shape (NumPy rules); out contiguous with a's shape and may
    /// alias a. The shapes passed <see cref="OpContracts.Broadcast"/>.</summary>
    void BinaryInto(Tensor output, Tensor a, Tensor b, int op)
    {
        var bStrides = new long[a.Rank];
        int shift = a.Rank - b.Rank;
        for (int i = 0; i < b.Rank; i++)
        {
            int bd = b.Dim(i), ad = a.Dim(i + shift);
            bStrides[i + shift] = bd == ad ? b.Strides[i] : 0;
        }
        ulong po = Ptr(output), pa = Ptr(a), pb = Ptr(b);
        int odt = (int)output.DType;
        var al = KernelLayout.Of(a);
        var bl = KernelLayout.Of(b, a.ShapeSpan, bStrides);
        long n = a.NumElements;
        Launch(CudaKernels.BinaryBroadcast, n, [po, odt, pa, KernelArg.Struct(&al), pb, KernelArg.Struct(&bl), n, op]);
    }

    public Tensor Scale(Tensor x, float scale, float shift = 0f)
    {
        Enter();
        using var xc = Dense(x);
        var y = NewLike(x);
        ulong py = Ptr(y), px = Ptr(xc.T);
        int dt = (int)x.DType, vec = KernelVector.Flag([], (py, y.DType), (px, x.DType));
        long n = x.NumElements;
        Launch(CudaKernels.ScaleShift, Steps(n), [py, px, dt, n, scale, shift, vec]);
        return y;
    }

    public Tensor Modulate(Tensor x, Tensor shift, Tensor scale)
    {
        OpContracts.Modulate(x, shift, scale);
        Enter();
        using var xc = Dense(x);
        var (shc, shStride) = BatchVector(x, shift);
        var (scc, scStride) = BatchVector(x, scale);
        using (shc)
        using (scc)
        {
            var y = NewLike(x);
            ulong py = Ptr(y), px = Ptr(xc.T), psh = Ptr(shc.T), psc = Ptr(scc.T);
            int dt = (int)x.DType, shdt = (int)shift.DType, scdt = (int)scale.DType;
            long N = x.Dim(1), D = x.Dim(2), R = x.Dim(0) * N;
            int vec = KernelVector.Flag([D, shStride, scStride], (py, y.DType), (px, x.DType), (psh, shift.DType), (psc, scale.DType));
            Launch(CudaKernels.Modulate, KernelVector.RowSteps("Modulate", R, D), [py, px, dt, psh, shdt, shStride, psc, scdt, scStride, R, N, D, vec]);
            return y;
        }
    }

    public Tensor GatedResidual(Tensor x, Tensor gate, Tensor y, Tensor? y2 = null)
    {
        OpContracts.GatedResidual(x, gate, y, y2);
        Enter();
        using var xc = Dense(x);
        using var yc = Dense(y);
        using var y2c = DenseOpt(y2);
        var (gc, gStride) = BatchVector(x, gate);
        using (gc)
        {
            var o = NewLike(x);
            ulong po = Ptr(o), px = Ptr(xc.T), py = Ptr(yc.T), py2 = PtrOrZero(y2c.TOrNull, "y2"), pg = Ptr(gc.T);
            int dt = (int)x.DType, ydt = (int)y.DType, y2dt = (int)(y2?.DType ?? y.DType), gdt = (int)gate.DType;
            long N = x.Dim(1), D = x.Dim(2), R = x.Dim(0) * N;
            int vec = KernelVector.Flag([D, gStride], (po, o.DType), (px, x.DType), (py, y.DType), (py2 == 0 ? py : py2, y2?.DType ?? y.DType), (pg, gate.DType));
            Launch(CudaKernels.GatedResidual, KernelVector.RowSteps("GatedResidual", R, D), [po, px, dt, py, ydt, py2, y2dt, pg, gdt, gStride, R, N, D, vec]);
            return o;
        }
    }

    public Tensor Geglu(Tensor x)
    {
        OpContracts.Geglu(x);
        return GatedProduct(x, CudaKernels.Geglu);
    }

    public Tensor Swiglu(Tensor x)
    {
        OpContracts.Swiglu(x);
        return GatedProduct(x, CudaKernels.Swiglu);
    }

    /// <summary>x [..., 2F] → [..., F] through one of the gated-product kernels (geglu, swiglu).</summary>
    Tensor GatedProduct(Tensor x, KernelEntry kernel)
    {
        Enter();
        long f = x.Dim(-1) / 2, rows = f == 0 ? 0 : x.NumElements / (2 * f);
        var dims = x.Dims.ToArray();
        dims[^1] = (int)f;
        var y = Empty(x.DType, dims);
        if (rows * f == 0) return y;
        try
        {
            using var xc = Dense(x);
            ulong py = Ptr(y), px = Ptr(xc.T);
            // 16-byte steps only where a step of 8 outputs stays in one row and both halves' rows start aligned
            int vec = KernelVector.Flag([f], (py, y.DType), (px, x.DType));
            Launch(kernel, Steps(rows * f), [py, px, (int)x.DType, rows, f, vec]);
        }
        catch { y.Dispose(); throw; }
        return y;
    }

    /// <summary>A per-batch vector <paramref name="v"/> of x [B, N, D] (a shape <see cref="OpContracts"/> accepted)
    /// as the row kernels read it: the tensor and its stride between batches in elements (0 when shared). A view
    /// whose last axis is dense is read in place (the chunks of a packed modulation [B, k·D]); anything else
    /// through a dense temporary.</summary>
    (Temp T, long Stride) BatchVector(Tensor x, Tensor v)
    {
        bool shared = v.Rank == 1 || v.Dim(0) == 1;
        if (v.Strides[^1] == 1 || v.Dim(-1) == 1)
            return (new Temp(v, null), shared ? 0 : v.Strides[0]);
        return (Temp.Own(Contiguous(v)), OpContracts.BatchStride(x, v));
    }

    static long Steps(long n) => (n + KernelVector.Width - 1) / KernelVector.Width;

    public void RmsNormRope(Tensor y, Tensor x, Tensor? weight, Tensor? cos, Tensor? sin, float eps, bool interleaved)
    {
        OpContracts.RmsNormRope(y, x, weight, cos, sin);
        HeadNormRope(CudaKernels.RmsNormRope, "RmsNormRope", y, x, weight, null, cos, sin, eps, interleaved);
    }

    public void LayerNormRope(Tensor y, Tensor x, Tensor? weight, Tensor? bias, Tensor? cos, Tensor? sin, float eps, bool interleaved)
    {
        OpContracts.LayerNormRope(y, x, weight, bias, cos, sin);
        HeadNormRope(CudaKernels.LayerNormRope, "LayerNormRope", y, x, weight, bias, cos, sin, eps, interleaved);
    }

    public void RmsNormAcrossHeadsRope(Tensor y, Tensor x, Tensor? weight, Tensor? cos, Tensor? sin, float eps, bool interleaved)
    {
        OpContracts.RmsNormAcrossHeadsRope(y, x, weight, cos, sin);
        Enter();
        long B = x.Dim(0), N = x.Dim(1), H = x.Dim(2), d = x.Dim(3);
        // no tables: the kernel's null cos skips the rotation (its dtype argument is then unread)
        var tdt = cos?.DType ?? x.DType;
        using var wc = DenseOpt(weight);
        using var cc = DenseOpt(cos);
        using var sc = sin is null ? default : Dense(sin, tdt);
        ulong py = Ptr(y), px = Ptr(x), pw = PtrOrZero(wc.TOrNull, "weight"), pc = PtrOrZero(cc.TOrNull, "cos"), ps = PtrOrZero(sc.TOrNull, "sin");
        int dt = (int)x.DType, wdt = (int)(weight?.DType ?? DType.F32), t = (int)tdt, il = interleaved ? 1 : 0;
        // one block a token row of H·d
        LaunchRows(CudaKernels.RowRmsNormRope, B * N, RowThreads(H * d),
            [py, y.Strides[0], y.Strides[1], px, x.Strides[0], x.Strides[1], dt, pw, wdt, pc, ps, t, N, H, d, eps, il]);
    }

    /// <summary>rms_norm_rope or layer_norm_rope (which also takes the bias) on checked arguments.</summary>
    void HeadNormRope(KernelEntry kernel, string op, Tensor y, Tensor x, Tensor? weight, Tensor? bias, Tensor? cos, Tensor? sin, float eps, bool interleaved)
    {
        Enter();
        long B = x.Dim(0), N = x.Dim(1), H = x.Dim(2), d = x.Dim(3), R = B * N * H;
        if (R == 0) return;
        if (R >= int.MaxValue) throw new NotSupportedException($"{op}: {R} rows exceed the kernel's 32-bit row index");
        // no tables: the kernel's null cos skips the rotation (its dtype argument is then unread)
        var tdt = cos?.DType ?? x.DType;
        using var wc = DenseOpt(weight);
        using var bc = DenseOpt(bias);
        using var cc = DenseOpt(cos);
        using var sc = sin is null ? default : Dense(sin, tdt);
        ulong py = Ptr(y), px = Ptr(x), pw = PtrOrZero(wc.TOrNull, "weight"), pb = PtrOrZero(bc.TOrNull, "bias"), pc = PtrOrZero(cc.TOrNull, "cos"), ps = PtrOrZero(sc.TOrNull, "sin");
        ReadOnlySpan<long> ys = y.Strides, xs = x.Strides;
        long ysb = ys[0], ysn = ys[1], ysh = ys[2], xsb = xs[0], xsn = xs[1], xsh = xs[2];
        int dt = (int)x.DType, wdt = (int)(weight?.DType ?? DType.F32), bdt = (int)(bias?.DType ?? DType.F32), t = (int)tdt, il = interleaved ? 1 : 0;
        const uint warps = 4;   // rows a block, one warp each
        var launch = new KernelLaunch(kernel, (uint)((R + warps - 1) / warps), 1, 32 * warps, 0);
        // weight and bias rows: one for every H / rows heads
        long rowHeads = H / ((weight ?? bias) is { Rank: 2 } rows ? rows.Dim(0) : 1);
        if (ReferenceEquals(kernel, CudaKernels.LayerNormRope))
            _kernels.Launch(launch, _stream.Handle, [py, ysb, ysn, ysh, px, xsb, xsn, xsh, dt, pw, wdt, pb, bdt, pc, ps, t, R, N, H, d, eps, il, rowHeads]);
        else
            _kernels.Launch(launch, _stream.Handle, [py, ysb, ysn, ysh, px, xsb, xsn, xsh, dt, pw, wdt, pc, ps, t, R, N, H, d, eps, il]);
    }

    public Tensor Rope(Tensor x, Tensor cos, Tensor sin, bool interleaved)
    {
        OpContracts.Rope(x, cos, sin);
        Enter();
        long B = x.Dim(0), N = x.Dim(1), H = x.Dim(2), d = x.Dim(3);
        var tdt = cos.DType;
        using var xc = Dense(x);
        using var cc = Dense(cos);
        using var sc = Dense(sin, tdt);
        var y = NewLike(x);
        ulong py = Ptr(y), px = Ptr(xc.T), pc = Ptr(cc.T), ps = Ptr(sc.T);
        int dt = (int)x.DType, t = (int)tdt, il = interleaved ? 1 : 0;
        Launch(CudaKernels.Rope, B * N * H * d, [py, px, dt, pc, ps, t, B, N, H, d, il]);
        return y;
    }
}
