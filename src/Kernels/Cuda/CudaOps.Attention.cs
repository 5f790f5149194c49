using XDit.Runtime;
using static XDit.Runtime.Cuda.Interop.BlasEnums;

namespace XDit.Kernels.Cuda;

// Attention (cuDNN's fused attention where AttentionBackend allows and cuDNN can, CudaOps.CudnnAttention.cs;
// otherwise native/kernels/attention_tc.cuh and attention.cu, planned by AttentionLaunch) and the merge of partial
// attentions.
public sealed unsafe partial class CudaOps
{
    /// <summary>bf16/f16 attention with head dims up to 128 runs on the tensor cores (attention_tc.cuh); false sends
    /// every call to the general kernel (attention.cu), which the benchmark uses as its baseline.</summary>
    public bool TensorCoreAttention { get; set; } = true;

    /// <summary>bf16/f16 attention with head dims above 128 (the VAE's one 512-wide head), and any attention above
    /// the general kernel's 512, without key bias, bias, causal mask, window or LSE, runs as GEMMs: float32 scores from
    /// cuBLASLt, a softmax into 16-bit probabilities (rounded as the tensor-core kernel rounds P), and P·V, in
    /// chunks of query rows. False sends them to the general kernel.</summary>
    public bool AttentionByGemm { get; set; } = true;

    /// <summary>Most bytes of scores and probabilities the GEMM path holds at once (it walks the queries in chunks).</summary>
    public long AttentionGemmChunkBytes { get; set; } = 256L << 20;

    /// <summary>Whether <see cref="Attention"/> takes the GEMM path for these inputs.</summary>
    public bool UsesAttentionByGemm(DType dt, int d, AttentionOptions options, bool wantsLse)
    {
        bool plain = options.KeyBias is null && options.Bias is null && !options.Causal && options.Window is null && !wantsLse;
        return plain && (d > AttentionLaunch.MaxHeadDim || (AttentionByGemm && dt is DType.BF16 or DType.F16 && d > AttentionLaunch.TensorCoreMaxHeadDim));
    }

    public Tensor Attention(Tensor q, Tensor k, Tensor v, AttentionOptions? options = null, Tensor? lse = null)
    {
        OpContracts.Attention(q, k, v, options, lse);
        Enter();
        options ??= new AttentionOptions();
        int B = q.Dim(0), Nq = q.Dim(1), H = q.Dim(2), d = q.Dim(3), Nk = k.Dim(1);
        bool byGemm = UsesAttentionByGemm(q.DType, d, options, lse is not null);
        if (d > AttentionLaunch.MaxHeadDim && !byGemm)
            throw new NotSupportedException($"Attention: head dim {d} > {AttentionLaunch.MaxHeadDim} with a mask, bias, window or LSE is not supported by the CUDA kernels");

        var dt = q.DType;
        // the kernel takes any (b, n, h) strides but needs unit stride along d
        using var qc = q.Strides[3] == 1 ? new Temp(q, null) : Temp.Own(Contiguous(q));
        using var kc = k.DType == dt && k.Strides[3] == 1 ? new Temp(k, null) : Temp.Own(Cast(k, dt));
        using var vc = v.DType == dt && v.Strides[3] == 1 ? new Temp(v, null) : Temp.Own(Cast(v, dt));
        var o = Empty(dt, B, Nq, H, d);
        LastAttentionBackend = "native";
        if (o.NumElements == 0) return o;
        if (TryCudnnAttention(qc.T, kc.T, vc.T, o, options, lse, out var firstRun))
        {
            if (firstRun is { } key) CheckCudnnAgainstNative(key, qc.T, kc.T, vc.T, o, options, lse, byGemm);
            return o;
        }
        NativeAttention(qc.T, kc.T, vc.T, o, options, lse, byGemm);
        return o;
    }

    /// <summary>Our kernels (tensor-core, general or by GEMMs) into o (and lse).</summary>
    void NativeAttention(Tensor q, Tensor k, Tensor v, Tensor o, AttentionOptions options, Tensor? lse, bool byGemm)
    {
        int d = q.Dim(3), Nk = k.Dim(1);
        if (byGemm)
        {
            if (Nk == 0) ZeroFill(o);   // no keys: the kernels' all-masked rows give zeros too
            else AttentionByGemms(q, k, v, o, options.Scale ?? 1f / MathF.Sqrt(d));
            return;
        }

        var a = AttentionLaunch.Args(q, k, v, o, options, lse, Ptr);
        var plan = AttentionLaunch.Plan(a, TensorCoreAttention);
        if (plan.SharedBytes > Info.MaxSharedMemoryPerBlockOptin)
            throw new NotSupportedException($"Attention: head dim {d} needs {plan.SharedBytes} bytes of shared memory in {plan.Kernel}, the device allows {Info.MaxSharedMemoryPerBlockOptin}");
        _kernels.Launch(plan, _stream.Handle, [KernelArg.Struct(&a)]);
    }

    /// <summary>o = softmax(scale·q·kᵀ)·v per (b, h) and chunk of query rows, as column-major GEMMs on the views'
    /// strides (unit stride along d): Sᵀ[Nk × R] = K·Qᵀ in float32, P = softmax(S) in o's dtype, Oᵀ[d × R] = Vᵀ·Pᵀ.</summary>
    void AttentionByGemms(Tensor q, Tensor k, Tensor v, Tensor o, float scale)
    {
        int B = q.Dim(0), Nq = q.Dim(1), H = q.Dim(2), d = q.Dim(3), Nk = k.Dim(1);
        var dt = o.DType;
        int size = dt.SizeOf();
        long rows = Math.Clamp(AttentionGemmChunkBytes / ((long)Nk * (4 + size)), 1, Nq);
        using var scores = Empty(DType.F32, (int)rows, Nk);
        using var probs = Empty(dt, (int)rows, Nk);
        ulong ps = Ptr(scores), pp = Ptr(probs);
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++)
            {
                ulong qb = Ptr(q) + (ulong)((b * q.Strides[0] + h * q.Strides[2]) * size);
                ulong kb = Ptr(k) + (ulong)((b * k.Strides[0] + h * k.Strides[2]) * size);
                ulong vb = Ptr(v) + (ulong)((b * v.Strides[0] + h * v.Strides[2]) * size);
                ulong ob = Ptr(o) + (ulong)((b * o.Strides[0] + h * o.Strides[2]) * size);
                for (long r0 = 0; r0 < Nq; r0 += rows)
                {
                    long r = Math.Min(rows, Nq - r0);
                    Gemm(dt, transA: true, m: Nk, n: r, k: d, a: kb, lda: k.Strides[1], strideA: 0,
                        b: qb + (ulong)(r0 * q.Strides[1] * size), ldb: q.Strides[1], strideB: 0, d: ps, ldd: Nk, strideD: 0, batch: 1,
                        alpha: scale, epilogue: EpilogueDefault, bias: 0, dtD: DType.F32);
                    using (var s = new Tensor(scores.Storage, DType.F32, [(int)r, Nk], null, scores.Offset))
                    using (var p = new Tensor(probs.Storage, dt, [(int)r, Nk], null, probs.Offset))
                        SoftmaxRowsInto(p, s);
                    Gemm(dt, transA: false, m: d, n: r, k: Nk, a: vb, lda: v.Strides[1], strideA: 0, b: pp, ldb: Nk, strideB: 0,
                        d: ob + (ulong)(r0 * o.Strides[1] * size), ldd: o.Strides[1], strideD: 0, batch: 1,
                        alpha: 1f, epilogue: EpilogueDefault, bias: 0);
                }
            }
    }

    public void MergeAttention(Tensor o1, Tensor lse1, Tensor o2, Tensor lse2)
    {
        OpContracts.MergeAttention(o1, lse1, o2, lse2);
        Enter();
        long B = o1.Dim(0), N = o1.Dim(1), H = o1.Dim(2), d = o1.Dim(3);
        using var o2c = Dense(o2);
        using var l2c = Dense(lse2, DType.F32);
        ulong p1 = Ptr(o1), pl1 = Ptr(lse1), p2 = Ptr(o2c.T), pl2 = Ptr(l2c.T);
        int o2dt = (int)o2.DType, dt = (int)o1.DType;
        Launch(CudaKernels.MergeAttention, B * N * H * d, [p1, pl1, p2, o2dt, pl2, dt, B, N, H, d]);
        long n = lse1.NumElements;
        Launch(CudaKernels.MergeLse, n, [pl1, pl2, n]);
    }
}
