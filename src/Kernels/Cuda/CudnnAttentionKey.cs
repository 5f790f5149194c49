using XDit.Runtime;

namespace XDit.Kernels.Cuda;

/// <summary>
/// What one cuDNN attention plan is built for: dtype, sizes, the element strides of q, k, v (any, unit along d) and
/// of o (batch, token, head), the softmax scale and whether the log-sum-exp ("stats") is written. Our tensors are
/// [B, N, H, d]; cuDNN's are [B, H, N, d] with these strides, so views such as the packed QKV projection pass
/// without copies.
/// </summary>
public readonly record struct CudnnAttentionKey(
    DType DType, int B, int H, int Nq, int Nk, int D,
    long QsB, long QsN, long QsH, long KsB, long KsN, long KsH, long VsB, long VsN, long VsH, long OsB, long OsN, long OsH,
    float Scale, bool Stats)
{
    /// <summary>The key for q, k, v (one dtype, unit stride along d) and o, all [B, N, H, d].</summary>
    public static CudnnAttentionKey For(Tensor q, Tensor k, Tensor v, Tensor o, float scale, bool stats) => new(
        q.DType, q.Dim(0), q.Dim(2), q.Dim(1), k.Dim(1), q.Dim(3),
        q.Strides[0], q.Strides[1], q.Strides[2], k.Strides[0], k.Strides[1], k.Strides[2],
        v.Strides[0], v.Strides[1], v.Strides[2], o.Strides[0], o.Strides[1], o.Strides[2], scale, stats);

    /// <summary>"bf16 [B 1, H 24, Nq 4608, Nk 4608, d 128]" for messages.</summary>
    public string Shape => $"{DType.ToString().ToLowerInvariant()} [B {B}, H {H}, Nq {Nq}, Nk {Nk}, d {D}]{(Stats ? " with LSE" : "")}";
}
