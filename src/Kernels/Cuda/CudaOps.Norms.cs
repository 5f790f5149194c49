using XDit.Runtime;

namespace XDit.Kernels.Cuda;

// Row reductions (native/kernels/norms.cu): one block per row, float32 statistics.
public sealed unsafe partial class CudaOps
{
    static uint RowThreads(long d) => d >= 1024 ? 512u : d >= 256 ? 256u : 128u;

    public Tensor LayerNorm(Tensor x, Tensor? weight, Tensor? bias, float eps)
    {
        OpContracts.LayerNorm(x, weight, bias);
        Enter();
        long D = x.Dim(-1);
        using var xc = Dense(x);
        using var wc = DenseOpt(weight);
        using var bc = DenseOpt(bias);
        var y = NewLike(x);
        ulong py = Ptr(y), px = Ptr(xc.T), pw = PtrOrZero(wc.TOrNull, "weight"), pb = PtrOrZero(bc.TOrNull, "bias");
        int dt = (int)x.DType, wdt = (int)(weight?.DType ?? DType.F32), bdt = (int)(bias?.DType ?? DType.F32);
        LaunchRows(CudaKernels.LayerNorm, x.NumElements / Math.Max(D, 1), RowThreads(D), [py, px, dt, pw, wdt, pb, bdt, D, eps]);
        return y;
    }

    public Tensor RmsNorm(Tensor x, Tensor? weight, float eps)
    {
        OpContracts.RmsNorm(x, weight);
        Enter();
        long D = x.Dim(-1);
        using var xc = Dense(x);
        using var wc = DenseOpt(weight);
        var y = NewLike(x);
        ulong py = Ptr(y), px = Ptr(xc.T), pw = PtrOrZero(wc.TOrNull, "weight");
        int dt = (int)x.DType, wdt = (int)(weight?.DType ?? DType.F32);
        LaunchRows(CudaKernels.RmsNorm, x.NumElements / Math.Max(D, 1), RowThreads(D), [py, px, dt, pw, wdt, D, eps]);
        return y;
    }

    public Tensor ChannelRmsNorm(Tensor x, Tensor? weight, float eps, Activation act = Activation.None)
    {
        OpContracts.ChannelRmsNorm(x, weight);
        Enter();
        long B = x.Dim(0), C = x.Dim(1), S = x.NumElements / Math.Max(B * C, 1);
        using var xc = Dense(x);
        using var wc = DenseOpt(weight);
        var y = NewLike(x);
        ulong py = Ptr(y), px = Ptr(xc.T), pw = PtrOrZero(wc.TOrNull, "weight");
        int dt = (int)x.DType, wdt = (int)(weight?.DType ?? DType.F32);
        // one thread per position: neighbouring threads read neighbouring positions of each channel plane
        Launch(CudaKernels.ChannelRmsNorm, B * S, [py, px, dt, pw, wdt, C, S, B * S, eps, (int)act]);
        return y;
    }

    public Tensor GroupNorm(Tensor x, int groups, Tensor? weight, Tensor? bias, float eps, Activation act = Activation.None)
    {
        OpContracts.GroupNorm(x, groups, weight, bias);
        Enter();
        long B = x.Dim(0), C = x.Dim(1), S = x.NumElements / Math.Max(B * C, 1);
        using var xc = Dense(x);
        using var wc = DenseOpt(weight);
        using var bc = DenseOpt(bias);
        var y = NewLike(x);
        ulong py = Ptr(y), px = Ptr(xc.T), pw = PtrOrZero(wc.TOrNull, "weight"), pb = PtrOrZero(bc.TOrNull, "bias");
        int dt = (int)x.DType, wdt = (int)(weight?.DType ?? DType.F32), bdt = (int)(bias?.DType ?? DType.F32), g = groups;
        LaunchRows(CudaKernels.GroupNorm, B * groups, 512, [py, px, dt, pw, wdt, pb, bdt, C, S, g, eps, (int)act]);
        return y;
    }

    /// <summary>Threads of a register-resident row kernel (norms.cu's NORM_STEPS steps of 8 a thread): enough for
    /// the row in one step each where 1024 threads allow; 0 when the row is too long for the registers.</summary>
    static uint NormThreads(long d)
    {
        long steps = (d + KernelVector.Width - 1) / KernelVector.Width;
        long threads = Math.Clamp((steps + 31) / 32 * 32, 32, 1024);
        return steps > threads * NormSteps ? 0 : (uint)threads;
    }

    const int NormSteps = 4;   // norms.cu's NORM_STEPS

    public Tensor LayerNormModulate(Tensor x, Tensor shift, Tensor scale, float eps, Tensor? x2 = null)
    {
        OpContracts.LayerNormModulate(x, shift, scale, x2);
        Enter();
        long N = x.Dim(1), D1 = x.Dim(2), D = D1 + (x2?.Dim(2) ?? 0), R = x.Dim(0) * N;
        uint threads = NormThreads(D);
        // the kernel reads the two parts step by step (8 values): x's width must end on a step
        if (threads == 0 || (x2 is not null && D1 % KernelVector.Width != 0))
        {
            using var cat = x2 is null ? null : Concat(2, x, x2);
            using var n = LayerNorm(cat ?? x, null, null, eps);
            return Modulate(n, shift, scale);
        }
        using var xc = Dense(x);
        using var x2c = DenseOpt(x2);
        var y = x2 is null ? NewLike(x) : Empty(x.DType, x.Dim(0), x.Dim(1), (int)D);
        try
        {
            // y has the row's full width: the shift and scale are per batch of it
            var (shc, shStride) = BatchVector(y, shift);
            var (scc, scStride) = BatchVector(y, scale);
            using (shc)
            using (scc)
            {
                ulong py = Ptr(y), px = Ptr(xc.T), px2 = PtrOrZero(x2c.TOrNull, "x2"), psh = Ptr(shc.T), psc = Ptr(scc.T);
                int dt = (int)x.DType, shdt = (int)shift.DType, scdt = (int)scale.DType;
                int vec = KernelVector.Flag([D, D1, shStride, scStride], (py, y.DType), (px, x.DType), (px2 == 0 ? px : px2, x.DType), (psh, shift.DType), (psc, scale.DType));
                LaunchRows(CudaKernels.LayerNormModulate, R, threads, [py, px, px2, D1, dt, psh, shdt, shStride, psc, scdt, scStride, N, D, eps, vec]);
                return y;
            }
        }
        catch { y.Dispose(); throw; }
    }

    public Tensor RmsNormModulate(Tensor x, Tensor? weight, Tensor? shift, Tensor scale, float eps)
    {
        OpContracts.RmsNormModulate(x, weight, shift, scale);
        Enter();
        long N = x.Dim(1), D = x.Dim(2), R = x.Dim(0) * N;
        uint threads = NormThreads(D);
        if (threads == 0)
        {
            // a row wider than the registers hold: the two passes, a zero shift for a scale-only modulation
            using var n = RmsNorm(x, weight, eps);
            using var zero = shift is null ? Zeros(scale.DType, scale.Dims) : null;
            return Modulate(n, shift ?? zero!, scale);
        }
        using var xc = Dense(x);
        using var wc = DenseOpt(weight);
        var y = NewLike(x);
        try
        {
            var (shc, shStride) = shift is null ? (default(Temp), 0L) : BatchVector(y, shift);
            var (scc, scStride) = BatchVector(y, scale);
            using (shc)
            using (scc)
            {
                ulong py = Ptr(y), px = Ptr(xc.T), pw = PtrOrZero(wc.TOrNull, "weight"), psh = PtrOrZero(shc.TOrNull, "shift"), psc = Ptr(scc.T);
                int dt = (int)x.DType, wdt = (int)(weight?.DType ?? DType.F32), shdt = (int)(shift?.DType ?? DType.F32), scdt = (int)scale.DType;
                // an absent operand is not read: it stands in as x for the alignment check
                int vec = KernelVector.Flag([D, shStride, scStride], (py, y.DType), (px, x.DType), (pw == 0 ? px : pw, weight?.DType ?? x.DType),
                    (psh == 0 ? px : psh, shift?.DType ?? x.DType), (psc, scale.DType));
                LaunchRows(CudaKernels.RmsNormModulate, R, threads, [py, px, dt, pw, wdt, psh, shdt, shStride, psc, scdt, scStride, N, D, eps, vec]);
                return y;
            }
        }
        catch { y.Dispose(); throw; }
    }

    public (Tensor Residual, Tensor Normed) ResidualLayerNormModulate(Tensor x, Tensor? gate, Tensor y, Tensor shift, Tensor scale, float eps)
    {
        OpContracts.ResidualLayerNormModulate(x, gate, y, shift, scale);
        Enter();
        long N = x.Dim(1), D = x.Dim(2), R = x.Dim(0) * N;
        uint threads = NormThreads(D);
        if (threads == 0)
        {
            var r0 = gate is null ? Add(x, y) : GatedResidual(x, gate, y);
            try { return (r0, LayerNormModulate(r0, shift, scale, eps)); }
            catch { r0.Dispose(); throw; }
        }
        using var xc = Dense(x);
        using var yc = Dense(y);
        var (gc, gStride) = gate is null ? (default(Temp), 0L) : BatchVector(x, gate);
        var (shc, shStride) = BatchVector(x, shift);
        var (scc, scStride) = BatchVector(x, scale);
        using (gc)
        using (shc)
        using (scc)
        {
            var r = NewLike(x);
            var o = NewLike(x);
            ulong pr = Ptr(r), po = Ptr(o), px = Ptr(xc.T), py = Ptr(yc.T), pg = PtrOrZero(gc.TOrNull, "gate"), psh = Ptr(shc.T), psc = Ptr(scc.T);
            int dt = (int)x.DType, ydt = (int)y.DType, gdt = (int)(gate?.DType ?? x.DType), shdt = (int)shift.DType, scdt = (int)scale.DType;
            int vec = KernelVector.Flag([D, gStride, shStride, scStride], (pr, r.DType), (po, o.DType), (px, x.DType), (py, y.DType),
                (pg == 0 ? pr : pg, gate?.DType ?? x.DType), (psh, shift.DType), (psc, scale.DType));
            LaunchRows(CudaKernels.ResidualLayerNormModulate, R, threads,
                [pr, po, px, dt, py, ydt, pg, gdt, gStride, psh, shdt, shStride, psc, scdt, scStride, N, D, eps, vec]);
            return (r, o);
        }
    }

    public Tensor RmsNormGatedResidual(Tensor x, Tensor? gate, Tensor y, Tensor? weight, float eps)
    {
        OpContracts.RmsNormGatedResidual(x, gate, y, weight);
        Enter();
        long N = x.Dim(1), D = x.Dim(2), R = x.Dim(0) * N;
        uint threads = NormThreads(D);
        if (threads == 0)
        {
            // a row wider than the registers hold: the norm, then the residual
            using var n = RmsNorm(y, weight, eps);
            return gate is null ? Add(x, n) : GatedResidual(x, gate, n);
        }
        using var xc = Dense(x);
        using var yc = Dense(y);
        using var wc = DenseOpt(weight);
        var (gc, gStride) = gate is null ? (default(Temp), 0L) : BatchVector(x, gate);
        using (gc)
        {
            var o = NewLike(x);
            ulong po = Ptr(o), px = Ptr(xc.T), py = Ptr(yc.T), pw = PtrOrZero(wc.TOrNull, "weight"), pg = PtrOrZero(gc.TOrNull, "gate");
            int dt = (int)x.DType, ydt = (int)y.DType, wdt = (int)(weight?.DType ?? DType.F32), gdt = (int)(gate?.DType ?? x.DType);
            // an absent operand is not read: it stands in as x for the alignment check
            int vec = KernelVector.Flag([D, gStride], (po, o.DType), (px, x.DType), (py, y.DType), (pw == 0 ? px : pw, weight?.DType ?? x.DType),
                (pg == 0 ? px : pg, gate?.DType ?? x.DType));
            LaunchRows(CudaKernels.RmsNormGatedResidual, R, threads, [po, px, dt, py, ydt, pw, wdt, pg, gdt, gStride, N, D, eps, vec]);
            return o;
        }
    }

    public Tensor Softmax(Tensor x)
    {
        OpContracts.Softmax(x);
        Enter();
        using var xc = Dense(x);
        var y = NewLike(x);
        SoftmaxRowsInto(y, xc.T);
        return y;
    }

    /// <summary>y = softmax over the last dim of x, both contiguous and of one shape; the dtypes may differ.</summary>
    void SoftmaxRowsInto(Tensor y, Tensor x)
    {
        long D = x.Dim(-1);
        ulong py = Ptr(y), px = Ptr(x);
        int ydt = (int)y.DType, xdt = (int)x.DType;
        LaunchRows(CudaKernels.SoftmaxRows, x.NumElements / Math.Max(D, 1), RowThreads(D), [py, ydt, px, xdt, D]);
    }
}
