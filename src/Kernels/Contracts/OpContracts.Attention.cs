using XDit.Runtime;

namespace XDit.Kernels;

public static partial class OpContracts
{
    /// <summary>Attention: q [B, Nq, H, d]; k and v [B, Nk, H, d] (one head count, one head dim: no GQA, and v's head
    /// dim equals q's because the CUDA kernels use one d for both); KeyBias [B, Nk] or [1, Nk]; Bias [B, H, Nq, Nk]
    /// or [1, H, Nq, Nk]; Window ≥ 0; lse a contiguous F32 [B, H, Nq].</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void Attention(Tensor q, Tensor k, Tensor v, AttentionOptions? options, Tensor? lse)
    {
        const string op = "Attention";
        Rank(q, 4, "[B, Nq, H, d]", op, "q");
        Rank(k, 4, "[B, Nk, H, d]", op, "k");
        Rank(v, 4, "[B, Nk, H, d]", op, "v");
        int B = q.Dim(0), Nq = q.Dim(1), H = q.Dim(2), Nk = k.Dim(1);
        if (k.Dim(0) != B || k.Dim(2) != H || k.Dim(3) != q.Dim(3)) throw Mismatch(op, "k must be [B, Nk, H, d] like q", q, "q", k, "k");
        if (!XDit.Runtime.Shape.Equal(k.ShapeSpan, v.ShapeSpan)) throw Mismatch(op, "v must be [B, Nk, H, d] like k", k, "k", v, "v");
        if (options?.KeyBias is { } kb && (kb.Rank != 2 || (kb.Dim(0) != B && kb.Dim(0) != 1) || kb.Dim(1) != Nk))
            throw Mismatch(op, "KeyBias must be [B, Nk] or [1, Nk]", k, "k", kb, "KeyBias");
        if (options?.Bias is { } bias && (bias.Rank != 4 || (bias.Dim(0) != B && bias.Dim(0) != 1) || bias.Dim(1) != H || bias.Dim(2) != Nq || bias.Dim(3) != Nk))
            throw Mismatch(op, "Bias must be [B or 1, H, Nq, Nk]", q, "q", bias, "Bias");
        if (options?.Window is < 0) throw new ArgumentException($"{op}: window {options.Window} must be ≥ 0");
        if (lse is not null)
        {
            if (lse.Rank != 3 || lse.Dim(0) != B || lse.Dim(1) != H || lse.Dim(2) != Nq) throw Mismatch(op, "lse must be [B, H, Nq]", q, "q", lse, "lse");
            if (lse.DType != DType.F32) throw new ArgumentException($"{op}: lse must be F32, got {lse.DType} {Format(lse.ShapeSpan)}");
            if (!lse.IsContiguous) throw new ArgumentException($"{op}: lse {Format(lse.ShapeSpan)} is written in place and must be contiguous");
        }
    }

    /// <summary>MergeAttention: o1 and o2 [B, N, H, d]; lse1 and lse2 [B, H, N]; o1 and lse1 (written in place)
    /// contiguous, lse1 F32.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void MergeAttention(Tensor o1, Tensor lse1, Tensor o2, Tensor lse2)
    {
        const string op = "MergeAttention";
        Rank(o1, 4, "[B, N, H, d]", op, "o1");
        NotNull(o2, op, "o2");
        NotNull(lse1, op, "lse1");
        NotNull(lse2, op, "lse2");
        if (!XDit.Runtime.Shape.Equal(o1.ShapeSpan, o2.ShapeSpan)) throw Mismatch(op, "outputs differ", o1, "o1", o2, "o2");
        if (lse1.Rank != 3 || lse1.Dim(0) != o1.Dim(0) || lse1.Dim(1) != o1.Dim(2) || lse1.Dim(2) != o1.Dim(1))
            throw Mismatch(op, "lse1 must be [B, H, N]", o1, "o1", lse1, "lse1");
        if (!XDit.Runtime.Shape.Equal(lse1.ShapeSpan, lse2.ShapeSpan)) throw Mismatch(op, "lse differ", lse1, "lse1", lse2, "lse2");
        if (lse1.DType != DType.F32) throw new ArgumentException($"{op}: lse1 must be F32, got {lse1.DType} {Format(lse1.ShapeSpan)}");
        if (!o1.IsContiguous || !lse1.IsContiguous)
            throw new ArgumentException($"{op}: o1 {Format(o1.ShapeSpan)} and lse1 {Format(lse1.ShapeSpan)} are written in place and must be contiguous");
    }

    /// <summary>LinearAttentionSums: k and v [B, N, H, D], the same shape.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void LinearAttentionSums(Tensor k, Tensor v)
    {
        const string op = "LinearAttentionSums";
        Rank(k, 4, "[B, N, H, D]", op, "k");
        Rank(v, 4, "[B, N, H, D]", op, "v");
        if (!XDit.Runtime.Shape.Equal(k.ShapeSpan, v.ShapeSpan)) throw Mismatch(op, "v must be [B, N, H, D] like k", k, "k", v, "v");
    }

    /// <summary>LinearAttentionApply: q [B, N, H, D]; sums F32 [B, H, D + 1, D]; eps ≥ 0.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void LinearAttentionApply(Tensor q, Tensor sums, float eps)
    {
        const string op = "LinearAttentionApply";
        Rank(q, 4, "[B, N, H, D]", op, "q");
        Rank(sums, 4, "[B, H, D + 1, D]", op, "sums");
        int B = q.Dim(0), H = q.Dim(2), D = q.Dim(3);
        if (sums.Dim(0) != B || sums.Dim(1) != H || sums.Dim(2) != D + 1 || sums.Dim(3) != D)
            throw Mismatch(op, "sums must be [B, H, D + 1, D] of q's B, H and D", q, "q", sums, "sums");
        if (sums.DType != DType.F32) throw new ArgumentException($"{op}: sums must be F32, got {sums.DType} {Format(sums.ShapeSpan)}");
        if (!(eps >= 0) || float.IsInfinity(eps)) throw new ArgumentException($"{op}: eps {eps} must be finite and ≥ 0");
    }
}
