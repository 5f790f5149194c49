using XDit.Runtime;

namespace XDit.Kernels.Cuda;

// Attention (native/kernels/attention_tc.cuh and attention.cu, planned by AttentionLaunch) and the merge of partial
// attentions.
public sealed unsafe partial class CudaOps
{
    /// <summary>bf16/f16 attention with head dims up to 128 runs on the tensor cores (attention_tc.cuh); false sends
    /// every call to the general kernel (attention.cu), which the benchmark uses as its baseline.</summary>
    public bool TensorCoreAttention { get; set; } = true;

    public Tensor Attention(Tensor q, Tensor k, Tensor v, AttentionOptions? options = null, Tensor? lse = null)
    {
        Enter();
        options ??= new AttentionOptions();
        if (q.Rank != 4 || k.Rank != 4 || v.Rank != 4)
            throw new ArgumentException($"Attention: q, k, v must be [B, N, H, d], got {Shape.Format(q.ShapeSpan)}, {Shape.Format(k.ShapeSpan)}, {Shape.Format(v.ShapeSpan)}");
        int B = q.Dim(0), Nq = q.Dim(1), H = q.Dim(2), d = q.Dim(3), Nk = k.Dim(1);
        if (k.Dim(0) != B || k.Dim(2) != H || k.Dim(3) != d || !Shape.Equal(k.ShapeSpan, v.ShapeSpan))
            throw new ArgumentException($"Attention: k {Shape.Format(k.ShapeSpan)} and v {Shape.Format(v.ShapeSpan)} must be [{B}, Nk, {H}, {d}] for q {Shape.Format(q.ShapeSpan)}");
        if (d > AttentionLaunch.MaxHeadDim) throw new NotSupportedException($"Attention: head dim {d} > {AttentionLaunch.MaxHeadDim} is not supported by the CUDA kernels");
        if (options.KeyBias is { } kb && (kb.Rank != 2 || kb.Dim(0) != B || kb.Dim(1) != Nk))
            throw new ArgumentException($"Attention: key bias {Shape.Format(kb.ShapeSpan)} is not [{B}, {Nk}]");
        if (options.Bias is { } bias && (bias.Rank != 4 || (bias.Dim(0) != B && bias.Dim(0) != 1) || bias.Dim(1) != H || bias.Dim(2) != Nq || bias.Dim(3) != Nk))
            throw new ArgumentException($"Attention: bias {Shape.Format(bias.ShapeSpan)} is not [{B} or 1, {H}, {Nq}, {Nk}]");
        if (lse is not null && (lse.DType != DType.F32 || !lse.IsContiguous || lse.Rank != 3 || lse.Dim(0) != B || lse.Dim(1) != H || lse.Dim(2) != Nq))
            throw new ArgumentException($"Attention: lse {lse} must be a contiguous F32 [{B}, {H}, {Nq}]");

        var dt = q.DType;
        // the kernel takes any (b, n, h) strides but needs unit stride along d
        using var qc = q.Strides[3] == 1 ? new Temp(q, null) : Temp.Own(Contiguous(q));
        using var kc = k.DType == dt && k.Strides[3] == 1 ? new Temp(k, null) : Temp.Own(Cast(k, dt));
        using var vc = v.DType == dt && v.Strides[3] == 1 ? new Temp(v, null) : Temp.Own(Cast(v, dt));
        var o = Empty(dt, B, Nq, H, d);
        if (o.NumElements == 0) return o;

        var a = AttentionLaunch.Args(qc.T, kc.T, vc.T, o, options, lse, Ptr);
        var plan = AttentionLaunch.Plan(a, TensorCoreAttention);
        if (plan.SharedBytes > Info.MaxSharedMemoryPerBlockOptin)
            throw new NotSupportedException($"Attention: head dim {d} needs {plan.SharedBytes} bytes of shared memory in {plan.Kernel}, the device allows {Info.MaxSharedMemoryPerBlockOptin}");
        void** args = stackalloc void*[] { &a };
        _kernels.Launch(_kernels.Function(plan.Module, plan.Kernel), plan.GridX, plan.GridY, plan.BlockX, plan.SharedBytes, _stream.Handle, args, plan.Kernel);
        return o;
    }

    public void MergeAttention(Tensor o1, Tensor lse1, Tensor o2, Tensor lse2)
    {
        Enter();
        SameShape(o1, o2, "MergeAttention (o1 vs o2)");
        SameShape(lse1, lse2, "MergeAttention (lse1 vs lse2)");
        if (o1.Rank != 4) throw new ArgumentException($"MergeAttention: o must be [B, N, H, d], got {Shape.Format(o1.ShapeSpan)}");
        long B = o1.Dim(0), N = o1.Dim(1), H = o1.Dim(2), d = o1.Dim(3);
        if (lse1.Rank != 3 || lse1.Dim(0) != B || lse1.Dim(1) != H || lse1.Dim(2) != N)
            throw new ArgumentException($"MergeAttention: lse {Shape.Format(lse1.ShapeSpan)} is not [{B}, {H}, {N}]");
        if (!o1.IsContiguous || !lse1.IsContiguous || lse1.DType != DType.F32)
            throw new ArgumentException("MergeAttention: o1 and lse1 are written in place and must be contiguous (lse1 F32)");
        using var o2c = Dense(o2);
        using var l2c = Dense(lse2, DType.F32);
        ulong p1 = Ptr(o1), pl1 = Ptr(lse1), p2 = Ptr(o2c.T), pl2 = Ptr(l2c.T);
        int o2dt = (int)o2.DType, dt = (int)o1.DType;
        void** args = stackalloc void*[] { &p1, &pl1, &p2, &o2dt, &pl2, &dt, &B, &N, &H, &d };
        Launch("pointwise", "merge_attention", B * N * H * d, args);
        long n = lse1.NumElements;
        void** args2 = stackalloc void*[] { &pl1, &pl2, &n };
        Launch("pointwise", "merge_lse", n, args2);
    }
}
