using System.Runtime.InteropServices;
using XDit.Runtime;

namespace XDit.Kernels.Cuda;

/// <summary>A strided view as the kernels see it: mirrors <c>struct Layout</c> in native/kernels/common.cuh
/// (int rank, int dtype, int64 offset, int64 shape[8], int64 strides[8]; 144 bytes), passed by value.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KernelLayout
{
    public const int MaxRank = 8;

    public int Rank;
    public int DType;
    public long Offset;
    public fixed long Shape[MaxRank];
    public fixed long Strides[MaxRank];

    /// <summary>The view of <paramref name="t"/> relative to its own first element (offset 0: the pointer
    /// passed beside it already points there).</summary>
    public static KernelLayout Of(Tensor t) => Of(t, t.ShapeSpan, t.Strides);

    /// <summary>The view of <paramref name="t"/>'s elements under another shape (merged axes, say).</summary>
    public static KernelLayout Of(Tensor t, ReadOnlySpan<long> shape, ReadOnlySpan<long> strides)
    {
        if (shape.Length > MaxRank) throw new NotSupportedException($"CUDA kernels take tensors of rank ≤ {MaxRank}, got rank {shape.Length}");
        var l = new KernelLayout { Rank = shape.Length, DType = (int)t.DType, Offset = 0 };
        for (int i = 0; i < shape.Length; i++) { l.Shape[i] = shape[i]; l.Strides[i] = strides[i]; }
        return l;
    }

    public static KernelLayout Of(Tensor t, ReadOnlySpan<int> shape, ReadOnlySpan<long> strides)
    {
        if (shape.Length > MaxRank) throw new NotSupportedException($"CUDA kernels take tensors of rank ≤ {MaxRank}, got {XDit.Runtime.Shape.Format(shape)}");
        var l = new KernelLayout { Rank = shape.Length, DType = (int)t.DType, Offset = 0 };
        for (int i = 0; i < shape.Length; i++) { l.Shape[i] = shape[i]; l.Strides[i] = strides[i]; }
        return l;
    }
}

/// <summary>Mirrors <c>struct AttnArgs</c> in native/kernels/attention_args.cuh (248 bytes), passed by value.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct AttentionArgs
{
    public ulong Q, K, V, O, Lse, KeyBias, Bias;
    public fixed long Qs[3];
    public fixed long Ks[3];
    public fixed long Vs[3];
    public fixed long Os[3];
    public fixed long Kbs[2];
    public fixed long Bs[4];
    public int B, Nq, Nk, H, D, DType, KbDType, BiasDType, Causal, HasLse;
    public float Scale;
    /// <summary>Band half-width (|i − j| ≤ Window is seen); −1 for none.</summary>
    public int Window;
}
