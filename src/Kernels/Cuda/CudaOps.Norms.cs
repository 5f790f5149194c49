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

    public Tensor GroupNorm(Tensor x, int groups, Tensor? weight, Tensor? bias, float eps)
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
        LaunchRows(CudaKernels.GroupNorm, B * groups, 512, [py, px, dt, pw, wdt, pb, bdt, C, S, g, eps]);
        return y;
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
