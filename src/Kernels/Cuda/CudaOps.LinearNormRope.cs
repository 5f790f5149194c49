using XDit.Runtime;

namespace XDit.Kernels.Cuda;

// Flux's q and k (CogVideoX's with a LayerNorm): a projection to heads whose epilogue is each head's norm and
// rotation (native/kernels/linear_norm_rope.cu), so q and k are written once, where attention reads them, instead of
// written by cuBLASLt and then read and written again by a norm pass: 2·(read + write) of q and k per block that no
// cuBLASLt epilogue can take. Layouts the kernel does not take run as that pair of ops.
public sealed unsafe partial class CudaOps
{
    const int NormRopeRows = 128, NormRopeK = 32, NormRopeStages = 3, NormRopeThreads = 256;   // LN_BM, LN_BK, LN_STAGES, LN_THREADS

    /// <summary>Run <see cref="LinearRmsNormRopeInto"/> and <see cref="LinearLayerNormRopeInto"/> as one kernel where
    /// the layout allows (16-bit activations, head dim 64 or 128, interleaved pairs or no rotation, 16-byte aligned
    /// rows). Off, it is always the GEMM and then the norm pass: the baseline a benchmark compares the kernel with.
    /// XDIT_FUSED_QK_NORM=0 turns it off for a whole process (a forward timed both ways); `xdit bench --what
    /// qk-projection` times both in one run.</summary>
    public bool FuseNormRopeEpilogue { get; set; } = Environment.GetEnvironmentVariable("XDIT_FUSED_QK_NORM") != "0";

    /// <summary>Calls with 16-bit activations that ran as a GEMM and a separate norm pass although the fused kernel
    /// was on (float32 has no such kernel: it always runs the pair).</summary>
    public int NormRopeEpilogueFallbacks { get; private set; }

    public void LinearRmsNormRopeInto(Tensor y, Tensor x, Tensor w, Tensor? bias, Tensor? weight, Tensor? cos, Tensor? sin, float eps, bool interleaved)
    {
        OpContracts.LinearRmsNormRopeInto(y, x, w, bias, weight, cos, sin);
        Enter();
        if (y.NumElements == 0 || Fused(layerNorm: false, y, x, w, bias, weight, null, cos, sin, eps, interleaved)) return;
        LinearInto(HeadRows(y), x, w, bias);
        HeadNormGroups.RmsNormRopeInPlace(this, y, weight, cos, sin, eps, interleaved);
    }

    public void LinearLayerNormRopeInto(Tensor y, Tensor x, Tensor w, Tensor? bias, Tensor? weight, Tensor? normBias, Tensor? cos, Tensor? sin, float eps, bool interleaved)
    {
        OpContracts.LinearLayerNormRopeInto(y, x, w, bias, weight, normBias, cos, sin);
        Enter();
        if (y.NumElements == 0 || Fused(layerNorm: true, y, x, w, bias, weight, normBias, cos, sin, eps, interleaved)) return;
        LinearInto(HeadRows(y), x, w, bias);
        LayerNormRope(y, y, weight, normBias, cos, sin, eps, interleaved);
    }

    /// <summary>y [B, N, H, d] with dense heads as the [B, N, H·d] rows a GEMM writes in place.</summary>
    static Tensor HeadRows(Tensor y) => new(y.Storage, y.DType, [y.Dim(0), y.Dim(1), y.Dim(2) * y.Dim(3)], [y.Strides[0], y.Strides[1], 1], y.Offset);

    bool Fused(bool layerNorm, Tensor y, Tensor x, Tensor w, Tensor? bias, Tensor? weight, Tensor? normBias, Tensor? cos, Tensor? sin, float eps, bool interleaved)
    {
        if (!FuseNormRopeEpilogue || x.DType is not (DType.BF16 or DType.F16)) return false;
        if (TryNormRopeKernel(layerNorm, y, x, w, bias, weight, normBias, cos, sin, eps, interleaved)) return true;
        NormRopeEpilogueFallbacks++;
        return false;
    }

    bool TryNormRopeKernel(bool layerNorm, Tensor y, Tensor x, Tensor w, Tensor? bias, Tensor? weight, Tensor? normBias, Tensor? cos, Tensor? sin, float eps, bool interleaved)
    {
        var dt = x.DType;
        int B = y.Dim(0), N = y.Dim(1), H = y.Dim(2), d = y.Dim(3), K = x.Dim(2);
        if (cos is not null && !interleaved) return false;
        if (CudaKernels.LinearNormRopeFor(layerNorm, dt == DType.BF16, d) is not { } kernel) return false;
        if ((long)B * H > 65535 || K == 0 || K % 8 != 0) return false;
        // x's rows read 16 bytes at a time; y's pairs written 4 bytes at a time
        ReadOnlySpan<long> xs = x.Strides, ys = y.Strides;
        if (xs[2] != 1 || xs[1] % 8 != 0 || (B > 1 && xs[0] % 8 != 0)) return false;
        if (ys[1] % 2 != 0 || (B > 1 && ys[0] % 2 != 0)) return false;
        ulong px = Ptr(x, "x"), py = Ptr(y, "y");
        if (px % 16 != 0 || py % 4 != 0) return false;
        using var wc = Dense(w, dt);
        ulong pw = Ptr(wc.T, "w");
        if (pw % 16 != 0) return false;
        using var bc = bias is null ? default : Dense(bias, dt);
        using var nc = DenseOpt(weight);
        using var nbc = DenseOpt(normBias);
        var tdt = cos?.DType ?? dt;
        using var cc = DenseOpt(cos);
        using var sc = sin is null ? default : Dense(sin, tdt);
        long rowHeads = H / ((weight ?? normBias) is { Rank: 2 } rows ? rows.Dim(0) : 1);
        // table rows per token: one for every head, or one per head of a group (Mochi)
        long tableRow = cos?.Dim(1) ?? d, tableHead = tableRow == d ? 0 : d;
        uint smem = (uint)(NormRopeStages * (NormRopeRows + d) * (NormRopeK + 8) * 2);
        var launch = new KernelLaunch(kernel, (uint)((N + NormRopeRows - 1) / NormRopeRows), (uint)(B * H), NormRopeThreads, smem);
        _kernels.Launch(launch, _stream.Handle,
            [py, B > 1 ? ys[0] : 0L, ys[1], px, B > 1 ? xs[0] : 0L, xs[1], pw, PtrOrZero(bc.TOrNull, "bias"),
             PtrOrZero(nc.TOrNull, "weight"), (int)(weight?.DType ?? dt), PtrOrZero(nbc.TOrNull, "norm bias"), (int)(normBias?.DType ?? dt), rowHeads,
             PtrOrZero(cc.TOrNull, "cos"), PtrOrZero(sc.TOrNull, "sin"), (int)tdt, tableRow, tableHead, N, K, H, eps]);
        return true;
    }
}
