using System.Buffers;
using System.Numerics.Tensors;

namespace XDit.Kernels.Cpu;

/// <summary>
/// Single-precision GEMM on raw row-major buffers: C = act(alpha·A·op(B) + bias).
/// A is [M, K] with row stride lda; B is [K, N] (ldb) or, when <c>transB</c>, [N, K] (ldb); C is [M, N] (ldc).
/// </summary>
internal static unsafe class GemmKernel
{
    public static void Multiply(int M, int N, int K, float* A, int lda, float* B, int ldb, bool transB,
        float* C, int ldc, float alpha, float* bias, Activation act)
    {
        if (M == 0 || N == 0) return;
        float[]? packed = null;
        float* bt = B;
        int ldbt = ldb;
        if (!transB)
        {
            // Dot products want rows of Bᵀ: transpose B once.
            packed = ArrayPool<float>.Shared.Rent(Math.Max(1, N * K));
            fixed (float* p = packed)
            {
                for (int k = 0; k < K; k++)
                    for (int n = 0; n < N; n++) p[(long)n * K + k] = B[(long)k * ldb + n];
            }
            ldbt = K;
        }
        try
        {
            fixed (float* p = packed)
            {
                if (packed is not null) bt = p;
                nint pa = (nint)A, pb = (nint)bt, pc = (nint)C, pbias = (nint)bias;
                int ldbtl = ldbt;
                void Row(int m)
                {
                    var a = new ReadOnlySpan<float>((float*)pa + (long)m * lda, K);
                    var c = new Span<float>((float*)pc + (long)m * ldc, N);
                    for (int n = 0; n < N; n++)
                    {
                        float v = alpha * TensorPrimitives.Dot(a, new ReadOnlySpan<float>((float*)pb + (long)n * ldbtl, K));
                        c[n] = pbias == 0 ? v : v + ((float*)pbias)[n];
                    }
                    ActivationMath.Apply(c, act);
                }
                if ((long)M * N * K < (1 << 18)) for (int m = 0; m < M; m++) Row(m);
                else Parallel.For(0, M, Row);
            }
        }
        finally
        {
            if (packed is not null) ArrayPool<float>.Shared.Return(packed);
        }
    }
}
