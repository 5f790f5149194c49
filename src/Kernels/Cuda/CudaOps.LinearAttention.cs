using XDit.Runtime;

namespace XDit.Kernels.Cuda;

// ReLU linear attention (native/kernels/linear_attention.cu): float32 sums per (batch, head), then the apply.
public sealed unsafe partial class CudaOps
{
    /// <summary>Shared memory the sums kernel stages k and v tiles in (2·tile·D floats).</summary>
    const int LinearAttentionTileBytes = 16 << 10;

    public Tensor LinearAttentionSums(Tensor k, Tensor v)
    {
        OpContracts.LinearAttentionSums(k, v);
        Enter();
        int B = k.Dim(0), H = k.Dim(2), D = k.Dim(3);
        long N = k.Dim(1);
        using var kc = DenseLastAxis(k, k.DType);
        using var vc = DenseLastAxis(v, k.DType);
        var s = Empty(DType.F32, B, H, D + 1, D);
        if (s.NumElements == 0) return s;
        int entries = (D + 1) * D;
        uint threads = (uint)Math.Clamp((entries + 31) / 32 * 32, 32, 256);
        int tile = Math.Max(1, LinearAttentionTileBytes / (2 * sizeof(float) * D));
        uint smem = (uint)(2 * sizeof(float) * tile * D);
        ulong ps = Ptr(s), pk = Ptr(kc.T), pv = Ptr(vc.T);
        ReadOnlySpan<long> ks = kc.T.Strides, vs = vc.T.Strides;
        int dt = (int)k.DType;
        _kernels.Launch(new KernelLaunch(CudaKernels.LinearAttentionSums, checked((uint)(B * H)), 1, threads, smem), _stream.Handle,
            [ps, pk, ks[0], ks[1], ks[2], pv, vs[0], vs[1], vs[2], dt, N, H, D, tile]);
        return s;
    }

    public Tensor LinearAttentionApply(Tensor q, Tensor sums, float eps)
    {
        OpContracts.LinearAttentionApply(q, sums, eps);
        Enter();
        int H = q.Dim(2), D = q.Dim(3);
        long N = q.Dim(1);
        using var qc = DenseLastAxis(q, q.DType);
        using var sc = Dense(sums);
        var y = Empty(q.DType, q.Dims);
        ulong py = Ptr(y), pq = Ptr(qc.T), ps = Ptr(sc.T);
        var qs = qc.T.Strides;
        int dt = (int)q.DType;
        Launch(CudaKernels.LinearAttentionApply, y.NumElements, [py, pq, qs[0], qs[1], qs[2], dt, ps, N, H, D, eps, y.NumElements]);
        return y;
    }

    /// <summary>The tensor itself when its last axis is dense (the kernels take the other axes' strides) and its
    /// dtype is <paramref name="dt"/>; else a contiguous copy in <paramref name="dt"/>.</summary>
    Temp DenseLastAxis(Tensor t, DType dt)
    {
        if (t.DType == dt && (t.Dim(-1) <= 1 || t.Strides[^1] == 1)) return new Temp(t, null);
        return Dense(t, dt);
    }
}
