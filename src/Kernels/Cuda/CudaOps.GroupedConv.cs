using XDit.Runtime;

namespace XDit.Kernels.Cuda;

// Grouped and depth-wise convolution (native/kernels/conv.cu): direct, one thread per output element, reading x
// through its strides (no copy of a permuted view).
public sealed unsafe partial class CudaOps
{
    public Tensor GroupedConv2d(Tensor x, Tensor w, Tensor? bias, int groups, int padding)
    {
        OpContracts.GroupedConv2d(x, w, bias, groups, padding);
        Enter();
        long C = x.Dim(1), H = x.Dim(2), W = x.Dim(3), O = w.Dim(0);
        int cg = w.Dim(1), kh = w.Dim(2), kw = w.Dim(3);
        int ho = x.Dim(2) + 2 * padding - kh + 1, wo = x.Dim(3) + 2 * padding - kw + 1;
        using var wc = Dense(w);
        using var bc = DenseOpt(bias);
        var y = Empty(x.DType, x.Dim(0), w.Dim(0), ho, wo);
        ulong py = Ptr(y), px = Ptr(x), pw = Ptr(wc.T), pb = PtrOrZero(bc.TOrNull, "bias");
        var xs = x.Strides;
        int dt = (int)x.DType, wdt = (int)w.DType, bdt = (int)(bias?.DType ?? DType.F32);
        long n = y.NumElements;
        Launch(CudaKernels.GroupedConv2d, n, [py, px, dt, xs[0], xs[1], xs[2], xs[3], pw, wdt, pb, bdt, C, H, W, O, cg, kh, kw, padding, (long)ho, (long)wo, n]);
        return y;
    }
}
