using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using XDit.Runtime;

namespace XDit.Kernels.Cpu;

/// <summary>
/// Single-precision GEMM on raw row-major buffers: C = act(alpha·A·op(B) + bias).
/// A is [M, K] with row stride lda; B is [K, N] (ldb) or, when <c>transB</c>, [N, K] (ldb); C is [M, N] (ldc).
/// <para>
/// Goto/BLIS structure: B is packed once into 16-column panels laid out k-major, so the micro-kernel streams it;
/// each task owns a (96-row × 256-column) tile of C, packs its rows of A 256 columns of K at a time into 6-row
/// panels, and runs a 6×16 register-blocked FMA micro-kernel (12 Vector256 accumulators). Tiles run in parallel.
/// Rows of fewer than 6 (GEMV-like calls, e.g. timestep embeddings) take a dot-product path instead.
/// </para>
/// </summary>
internal static unsafe class GemmKernel
{
    const int MR = 6, NR = 16, KC = 256, MC = 96, NC = 256;
    /// <summary>Columns of op(B) per packed panel: a product against packed B may start at a multiple of it.</summary>
    public const int PanelWidth = NR;
    /// <summary>Below this many multiply-adds a call runs on the calling thread.</summary>
    const long ParallelThreshold = 1L << 20;

    [ThreadStatic] static float[]? t_packA;

    public static void Multiply(int M, int N, int K, float* A, int lda, float* B, int ldb, bool transB,
        float* C, int ldc, float alpha, float* bias, Activation act, IAllocator? scratch = null, bool parallel = true)
    {
        if (M == 0 || N == 0) return;
        bool par = parallel && (long)M * N * K >= ParallelThreshold && Environment.ProcessorCount > 1;
        if (K == 0 || M < MR)
        {
            SmallM(M, N, K, A, lda, B, ldb, transB, C, ldc, alpha, bias, act, par);
            return;
        }

        int panels = (N + NR - 1) / NR;
        long packLen = (long)panels * NR * K;
        Storage? storage = null;
        float[]? pooled = null;
        if (scratch is not null) storage = scratch.Allocate(packLen * sizeof(float));
        else pooled = ArrayPool<float>.Shared.Rent(checked((int)packLen));
        try
        {
            fixed (byte* sb = storage is HostStorage hs ? hs.Bytes : null)
            fixed (float* pf = pooled)
            {
                float* pb = storage is null ? pf : (float*)sb;
                nint pA = (nint)A, pB = (nint)B, pC = (nint)C, pPack = (nint)pb, pBias = (nint)bias;
                if (par) Parallel.For(0, panels, p => PackB(p, N, K, (float*)pB, ldb, transB, (float*)pPack));
                else for (int p = 0; p < panels; p++) PackB(p, N, K, B, ldb, transB, pb);

                int mBlocks = (M + MC - 1) / MC, nBlocks = (N + NC - 1) / NC;
                void Tile(int t)
                {
                    int m0 = t / nBlocks * MC, n0 = t % nBlocks * NC;
                    RunTile(m0, Math.Min(M, m0 + MC), n0, Math.Min(N, n0 + NC), N, K, (float*)pA, lda,
                        (float*)pPack, (float*)pC, ldc, alpha, (float*)pBias, act);
                }
                if (par) Parallel.For(0, mBlocks * nBlocks, Tile);
                else for (int t = 0; t < mBlocks * nBlocks; t++) Tile(t);
            }
        }
        finally
        {
            if (storage is not null) scratch!.Release(storage);
            if (pooled is not null) ArrayPool<float>.Shared.Return(pooled);
        }
    }

    /// <summary>Floats that <see cref="PackB(int, int, float*, int, bool, float*)"/> writes for an op(B) of [K, N].</summary>
    public static long PackedBLength(int N, int K) => (long)((N + NR - 1) / NR) * NR * K;

    /// <summary>Packs all of op(B) ([K, N]) into <paramref name="packed"/> (<see cref="PackedBLength"/> floats), so that
    /// several products against the same B (attention: every query block of a head against its K and V) pack it once.</summary>
    public static void PackB(int N, int K, float* B, int ldb, bool transB, float* packed)
    {
        int panels = (N + NR - 1) / NR;
        for (int p = 0; p < panels; p++) PackB(p, N, K, B, ldb, transB, packed);
    }

    /// <summary>C = alpha·A·op(B) on the calling thread, with op(B) already packed by
    /// <see cref="PackB(int, int, float*, int, bool, float*)"/>. Any M works: edge rows go through the padded micro-tile.</summary>
    public static void MultiplyPacked(int M, int N, int K, float* A, int lda, float* packedB, float* C, int ldc, float alpha)
    {
        if (M == 0 || N == 0) return;
        if (K == 0)
        {
            for (int m = 0; m < M; m++) new Span<float>(C + (long)m * ldc, N).Clear();
            return;
        }
        for (int m0 = 0; m0 < M; m0 += MC)
            for (int n0 = 0; n0 < N; n0 += NC)
                RunTile(m0, Math.Min(M, m0 + MC), n0, Math.Min(N, n0 + NC), N, K, A, lda, packedB, C, ldc, alpha, null, Activation.None);
    }

    /// <summary>Packs columns [16p, 16p+16) of op(B) for all of K as [K][16], zero-padded past N.</summary>
    static void PackB(int p, int N, int K, float* B, int ldb, bool transB, float* packed)
    {
        float* dst = packed + (long)p * NR * K;
        int n0 = p * NR, cols = Math.Min(NR, N - n0);
        if (transB)
        {
            if (cols < NR) new Span<float>(dst, NR * K).Clear();
            for (int j = 0; j < cols; j++)
            {
                float* src = B + (long)(n0 + j) * ldb;
                for (int k = 0; k < K; k++) dst[k * NR + j] = src[k];
            }
        }
        else
        {
            for (int k = 0; k < K; k++)
            {
                float* src = B + (long)k * ldb + n0;
                float* d = dst + k * NR;
                if (cols == NR)
                {
                    Vector256.Store(Vector256.Load(src), d);
                    Vector256.Store(Vector256.Load(src + 8), d + 8);
                }
                else for (int j = 0; j < NR; j++) d[j] = j < cols ? src[j] : 0f;
            }
        }
    }

    static void RunTile(int m0, int m1, int n0, int n1, int N, int K, float* A, int lda, float* packedB,
        float* C, int ldc, float alpha, float* bias, Activation act)
    {
        var packA = t_packA ??= GC.AllocateUninitializedArray<float>(MC * KC, pinned: true);
        int rows = m1 - m0, mPanels = (rows + MR - 1) / MR;
        fixed (float* pa = packA)
        {
            for (int k0 = 0; k0 < K; k0 += KC)
            {
                int kc = Math.Min(KC, K - k0);
                bool first = k0 == 0, last = k0 + kc == K;
                PackA(A, lda, m0, rows, k0, kc, pa);
                for (int n = n0; n < n1; n += NR)
                {
                    float* bp = packedB + (long)(n / NR) * NR * K + (long)k0 * NR;
                    int cols = Math.Min(NR, N - n);
                    for (int i = 0; i < mPanels; i++)
                    {
                        int r = Math.Min(MR, rows - i * MR);
                        Micro(kc, pa + i * MR * kc, bp, C + (long)(m0 + i * MR) * ldc + n, ldc, r, cols,
                            first, last, alpha, bias == null ? null : bias + n);
                    }
                }
            }
        }
        if (act != Activation.None)
            for (int m = m0; m < m1; m++) ActivationMath.Apply(new Span<float>(C + (long)m * ldc + n0, n1 - n0), act);
    }

    /// <summary>Rows [m0, m0+rows) and columns [k0, k0+kc) of A as 6-row panels [kc][6], zero-padded.</summary>
    static void PackA(float* A, int lda, int m0, int rows, int k0, int kc, float* dst)
    {
        int mPanels = (rows + MR - 1) / MR;
        for (int i = 0; i < mPanels; i++)
        {
            float* panel = dst + i * MR * kc;
            for (int r = 0; r < MR; r++)
            {
                int row = i * MR + r;
                if (row >= rows) { for (int k = 0; k < kc; k++) panel[k * MR + r] = 0f; continue; }
                float* src = A + (long)(m0 + row) * lda + k0;
                for (int k = 0; k < kc; k++) panel[k * MR + r] = src[k];
            }
        }
    }

    /// <summary>One 6×16 block of C; edge blocks go through a padded scratch tile.</summary>
    static void Micro(int kc, float* a, float* b, float* c, int ldc, int rows, int cols, bool first, bool last, float alpha, float* bias)
    {
        if (rows == MR && cols == NR) { Kernel6x16(kc, a, b, c, ldc, first, last, alpha, bias); return; }
        // N ≡ 8 (mod 16) is common (head dimension 72, 1152 channels): its last panel gets a half-width kernel
        // instead of the padded tile, which would copy C in and out and do twice the multiply-adds.
        if (rows == MR && cols == NR / 2) { Kernel6x8(kc, a, b, c, ldc, first, last, alpha, bias); return; }
        float* tmp = stackalloc float[MR * NR];
        float* tb = stackalloc float[NR];
        for (int r = 0; r < MR; r++)
            for (int j = 0; j < NR; j++)
                tmp[r * NR + j] = !first && r < rows && j < cols ? c[(long)r * ldc + j] : 0f;
        if (bias != null) for (int j = 0; j < NR; j++) tb[j] = j < cols ? bias[j] : 0f;
        Kernel6x16(kc, a, b, tmp, NR, first, last, alpha, bias == null ? null : tb);
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < cols; j++) c[(long)r * ldc + j] = tmp[r * NR + j];
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Kernel6x16(int kc, float* a, float* b, float* c, int ldc, bool first, bool last, float alpha, float* bias)
    {
        Vector256<float> c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
        if (first)
        {
            c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = Vector256<float>.Zero;
        }
        else
        {
            c00 = Vector256.Load(c); c01 = Vector256.Load(c + 8);
            c10 = Vector256.Load(c + ldc); c11 = Vector256.Load(c + ldc + 8);
            c20 = Vector256.Load(c + 2 * ldc); c21 = Vector256.Load(c + 2 * ldc + 8);
            c30 = Vector256.Load(c + 3 * ldc); c31 = Vector256.Load(c + 3 * ldc + 8);
            c40 = Vector256.Load(c + 4 * ldc); c41 = Vector256.Load(c + 4 * ldc + 8);
            c50 = Vector256.Load(c + 5 * ldc); c51 = Vector256.Load(c + 5 * ldc + 8);
        }
        for (int k = 0; k < kc; k++)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            var a0 = Vector256.Create(a[0]);
            c00 = Vector256.FusedMultiplyAdd(a0, b0, c00); c01 = Vector256.FusedMultiplyAdd(a0, b1, c01);
            var a1 = Vector256.Create(a[1]);
            c10 = Vector256.FusedMultiplyAdd(a1, b0, c10); c11 = Vector256.FusedMultiplyAdd(a1, b1, c11);
            var a2 = Vector256.Create(a[2]);
            c20 = Vector256.FusedMultiplyAdd(a2, b0, c20); c21 = Vector256.FusedMultiplyAdd(a2, b1, c21);
            var a3 = Vector256.Create(a[3]);
            c30 = Vector256.FusedMultiplyAdd(a3, b0, c30); c31 = Vector256.FusedMultiplyAdd(a3, b1, c31);
            var a4 = Vector256.Create(a[4]);
            c40 = Vector256.FusedMultiplyAdd(a4, b0, c40); c41 = Vector256.FusedMultiplyAdd(a4, b1, c41);
            var a5 = Vector256.Create(a[5]);
            c50 = Vector256.FusedMultiplyAdd(a5, b0, c50); c51 = Vector256.FusedMultiplyAdd(a5, b1, c51);
            a += MR;
            b += NR;
        }
        if (last)
        {
            var va = Vector256.Create(alpha);
            Vector256<float> bb0 = Vector256<float>.Zero, bb1 = Vector256<float>.Zero;
            if (bias != null) { bb0 = Vector256.Load(bias); bb1 = Vector256.Load(bias + 8); }
            c00 = Vector256.FusedMultiplyAdd(c00, va, bb0); c01 = Vector256.FusedMultiplyAdd(c01, va, bb1);
            c10 = Vector256.FusedMultiplyAdd(c10, va, bb0); c11 = Vector256.FusedMultiplyAdd(c11, va, bb1);
            c20 = Vector256.FusedMultiplyAdd(c20, va, bb0); c21 = Vector256.FusedMultiplyAdd(c21, va, bb1);
            c30 = Vector256.FusedMultiplyAdd(c30, va, bb0); c31 = Vector256.FusedMultiplyAdd(c31, va, bb1);
            c40 = Vector256.FusedMultiplyAdd(c40, va, bb0); c41 = Vector256.FusedMultiplyAdd(c41, va, bb1);
            c50 = Vector256.FusedMultiplyAdd(c50, va, bb0); c51 = Vector256.FusedMultiplyAdd(c51, va, bb1);
        }
        Vector256.Store(c00, c); Vector256.Store(c01, c + 8);
        Vector256.Store(c10, c + ldc); Vector256.Store(c11, c + ldc + 8);
        Vector256.Store(c20, c + 2 * ldc); Vector256.Store(c21, c + 2 * ldc + 8);
        Vector256.Store(c30, c + 3 * ldc); Vector256.Store(c31, c + 3 * ldc + 8);
        Vector256.Store(c40, c + 4 * ldc); Vector256.Store(c41, c + 4 * ldc + 8);
        Vector256.Store(c50, c + 5 * ldc); Vector256.Store(c51, c + 5 * ldc + 8);
    }

    /// <summary>The left half of <see cref="Kernel6x16"/>: a 6×8 block of C from a 16-wide packed panel of B.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Kernel6x8(int kc, float* a, float* b, float* c, int ldc, bool first, bool last, float alpha, float* bias)
    {
        Vector256<float> c0, c1, c2, c3, c4, c5;
        if (first) c0 = c1 = c2 = c3 = c4 = c5 = Vector256<float>.Zero;
        else
        {
            c0 = Vector256.Load(c); c1 = Vector256.Load(c + ldc); c2 = Vector256.Load(c + 2 * ldc);
            c3 = Vector256.Load(c + 3 * ldc); c4 = Vector256.Load(c + 4 * ldc); c5 = Vector256.Load(c + 5 * ldc);
        }
        for (int k = 0; k < kc; k++)
        {
            var b0 = Vector256.Load(b);
            c0 = Vector256.FusedMultiplyAdd(Vector256.Create(a[0]), b0, c0);
            c1 = Vector256.FusedMultiplyAdd(Vector256.Create(a[1]), b0, c1);
            c2 = Vector256.FusedMultiplyAdd(Vector256.Create(a[2]), b0, c2);
            c3 = Vector256.FusedMultiplyAdd(Vector256.Create(a[3]), b0, c3);
            c4 = Vector256.FusedMultiplyAdd(Vector256.Create(a[4]), b0, c4);
            c5 = Vector256.FusedMultiplyAdd(Vector256.Create(a[5]), b0, c5);
            a += MR;
            b += NR;
        }
        if (last)
        {
            var va = Vector256.Create(alpha);
            var bb = bias != null ? Vector256.Load(bias) : Vector256<float>.Zero;
            c0 = Vector256.FusedMultiplyAdd(c0, va, bb); c1 = Vector256.FusedMultiplyAdd(c1, va, bb);
            c2 = Vector256.FusedMultiplyAdd(c2, va, bb); c3 = Vector256.FusedMultiplyAdd(c3, va, bb);
            c4 = Vector256.FusedMultiplyAdd(c4, va, bb); c5 = Vector256.FusedMultiplyAdd(c5, va, bb);
        }
        Vector256.Store(c0, c); Vector256.Store(c1, c + ldc); Vector256.Store(c2, c + 2 * ldc);
        Vector256.Store(c3, c + 3 * ldc); Vector256.Store(c4, c + 4 * ldc); Vector256.Store(c5, c + 5 * ldc);
    }

    /// <summary>Fewer than 6 rows (or K = 0): packing would cost more than it saves. transB rows are dotted
    /// directly; otherwise each row of C accumulates rows of B scaled by A's entries.</summary>
    static void SmallM(int M, int N, int K, float* A, int lda, float* B, int ldb, bool transB,
        float* C, int ldc, float alpha, float* bias, Activation act, bool par)
    {
        nint pA = (nint)A, pB = (nint)B, pC = (nint)C, pBias = (nint)bias;
        const int Chunk = 64;
        int chunks = (N + Chunk - 1) / Chunk;
        void Columns(int ch)
        {
            int n0 = ch * Chunk, n1 = Math.Min(N, n0 + Chunk);
            for (int m = 0; m < M; m++)
            {
                var a = new ReadOnlySpan<float>((float*)pA + (long)m * lda, K);
                var c = new Span<float>((float*)pC + (long)m * ldc + n0, n1 - n0);
                if (transB)
                    for (int n = n0; n < n1; n++)
                        c[n - n0] = TensorPrimitives.Dot(a, new ReadOnlySpan<float>((float*)pB + (long)n * ldb, K));
                else
                {
                    c.Clear();
                    for (int k = 0; k < K; k++)
                        TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>((float*)pB + (long)k * ldb + n0, n1 - n0), a[k], c, c);
                }
                if (alpha != 1f) TensorPrimitives.Multiply(c, alpha, c);
                if (pBias != 0) TensorPrimitives.Add(c, new ReadOnlySpan<float>((float*)pBias + n0, n1 - n0), c);
                ActivationMath.Apply(c, act);
            }
        }
        if (par && chunks > 1) Parallel.For(0, chunks, Columns);
        else for (int ch = 0; ch < chunks; ch++) Columns(ch);
    }
}
