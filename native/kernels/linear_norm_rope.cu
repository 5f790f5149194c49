// A projection to heads with each head's RMSNorm (or LayerNorm) and rotation in the GEMM's epilogue:
// y = rope(norm(x·Wᵀ + b)), Flux's q and k (CogVideoX's with LayerNorm), so the projection is never written out and
// read back by a separate norm pass: the 2·(read + write) of q and k per block that no cuBLASLt epilogue can take.
//
// One block computes one head (D = 64 or 128 output features, the whole head, so its statistics are reduced inside
// the block) for LN_BM rows of one batch: a tensor-core GEMM (mma.sync m16n8k16, mma.cuh) over K in tiles of LN_BK,
// x's and W's tiles staged row-major in shared memory by 16-byte asynchronous copies, LN_STAGES deep (the copies of
// tile k + 2 run while tile k is computed on), read into operands by ldmatrix. Both operands are K-contiguous
// (x [rows, K], W [features, K]: PyTorch's Linear), which is exactly mma's row.col. Eight warps split the tile as
// WM rows × WN column groups of 64 features.
//
// The epilogue does what the unfused ops would, rounding where they round: the bias, the projection rounded to the
// activation dtype (cuBLASLt's output), the head's mean (LayerNorm) and sum of squares about it (a quad's shuffles,
// then the WN column groups through shared memory), the normalised value times the norm weight plus the norm bias
// (LayerNorm) rounded again (rms_norm_rope's and layer_norm_rope's output before the rotation, norms.cu's
// store_rotated_pair), then the interleaved pair (2i, 2i + 1) rotated by the token's table row, a pair each thread
// holds as accumulators 2t and 2t + 1 of one row, and stored as one 32-bit word.
//
// Arguments: y [B, N, H, D] at b·ysb + n·ysn + h·D + c (dense heads, even strides, 4-byte aligned); x [B, N, K] at
// b·xsb + n·xsn + k and W [H·D, K] dense, both 16-byte aligned with K and the strides multiples of 8; bias [H·D] in
// the activation dtype or null; nw the norm weight [G, D] (dtype nwdt), head h reading row h / rowHeads, or null
// (a weight of 1), nb the LayerNorm's bias of the same rows (dtype nbdt) or null; cos and sin (dtype tdt) with token
// n's angles for head h at n·tsn + (h % rowHeads)·tsh (tsn D and tsh 0: [N, D] for every head; tsn (H/G)·D and tsh
// D: a row per head of a group, Mochi's), or both null (no rotation). Grid (ceil(N / LN_BM), B·H), LN_THREADS
// threads, LN_STAGES · (LN_BM + D) · LN_KS · 2 bytes of dynamic shared memory (CudaOps.TryNormRopeKernel computes it).
#include "common.cuh"
#include "cp_async.cuh"
#include "mma.cuh"

#define LN_BM 128        // rows per block
#define LN_BK 32         // K per stage
#define LN_STAGES 3
#define LN_KS (LN_BK + 8)  // shared row stride in 16-bit values: +16 bytes puts ldmatrix's 8 rows on 8 distinct bank quads
#define LN_THREADS 256
#ifndef LN_MIN_BLOCKS
#define LN_MIN_BLOCKS 1
#endif

// Copies K-tile kt of x's rows [m0, m0 + LN_BM) and of the head's D rows of W into one stage; rows past N and
// columns past K land as zeros (they add nothing to the products).
template <int D>
__device__ __forceinline__ void lnr_stage(smem_addr sA, smem_addr sW, const u16* X, i64 xsn, const u16* W, int K, int N, int m0, int k0)
{
    constexpr int chunks = LN_BK / 8;   // 16-byte chunks per row of a tile
    static_assert(LN_BM * chunks % LN_THREADS == 0 && D * chunks % LN_THREADS == 0, "a tile's chunks split evenly over the block");
#pragma unroll
    for (int r = 0; r < LN_BM * chunks / LN_THREADS; ++r)
    {
        const int idx = threadIdx.x + r * LN_THREADS, row = idx / chunks, c = (idx % chunks) * 8;
        const bool inside = m0 + row < N && k0 + c < K;
        cp_async16(sA + 2 * (row * LN_KS + c), inside ? X + (i64)(m0 + row) * xsn + k0 + c : X, inside ? 16 : 0);
    }
#pragma unroll
    for (int r = 0; r < D * chunks / LN_THREADS; ++r)
    {
        const int idx = threadIdx.x + r * LN_THREADS, row = idx / chunks, c = (idx % chunks) * 8;
        const bool inside = k0 + c < K;
        cp_async16(sW + 2 * (row * LN_KS + c), inside ? W + (i64)row * K + k0 + c : W, inside ? 16 : 0);
    }
}

// Sums each row's values of v over the head (SQUARES: their squares about the row's mean m; m is not read otherwise),
// a quad's shuffles, then the WN column groups through red. Each call has a red of its own, so none waits for the
// reads of another before writing.
template <bool SQUARES, int MT, int NT, int WN>
__device__ __forceinline__ void lnr_row_sums(const float (&v)[MT][NT][4], const float (&m)[MT][2], float (&red)[WN][LN_BM],
    float (&sums)[MT][2], int wm, int wn, int g, int t)
{
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int half = 0; half < 2; ++half)
        {
            float s = 0.f;
#pragma unroll
            for (int nt = 0; nt < NT; ++nt)
#pragma unroll
                for (int i = 0; i < 2; ++i)
                {
                    const float e = v[mt][nt][2 * half + i] - (SQUARES ? m[mt][half] : 0.f);
                    s += SQUARES ? e * e : e;
                }
            s += __shfl_xor_sync(0xffffffffu, s, 1);
            s += __shfl_xor_sync(0xffffffffu, s, 2);
            if (t == 0) red[wn][wm * MT * 16 + mt * 16 + half * 8 + g] = s;
        }
    __syncthreads();
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int half = 0; half < 2; ++half)
        {
            float total = 0.f;
#pragma unroll
            for (int j = 0; j < WN; ++j) total += red[j][wm * MT * 16 + mt * 16 + half * 8 + g];
            sums[mt][half] = total;
        }
}

// CENTER: LayerNorm over the head (mean and biased variance, weight and bias: CogVideoX's q/k norm), else RMSNorm.
template <int D, bool BF16, bool CENTER>
__device__ __forceinline__ void linear_norm_rope(void* y, i64 ysb, i64 ysn, const void* x, i64 xsb, i64 xsn,
    const void* w, const void* bias, const void* nw, int nwdt, const void* nb, int nbdt, i64 rowHeads, const void* cosT,
    const void* sinT, int tdt, i64 tsn, i64 tsh, int N, int K, int H, float eps)
{
    constexpr int WN = D / 64, WM = (LN_THREADS / 32) / WN;   // warps across the head and down the rows
    constexpr int MT = LN_BM / WM / 16, NT = 8;               // m16 and n8 tiles of a warp (64 columns)
    constexpr int dt = BF16 ? 2 : 1;
    constexpr int stageBytes = 2 * (LN_BM + D) * LN_KS;
    XDIT_DYNAMIC_SMEM(u16, lnr_smem);
    __shared__ float red[WN][LN_BM], red2[WN][LN_BM];

    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    const int wm = warp / WN, wn = warp % WN;
    const int b = blockIdx.y / H, h = blockIdx.y % H, m0 = blockIdx.x * LN_BM;
    const u16* X = (const u16*)x + b * xsb;
    const u16* W = (const u16*)w + (i64)h * D * K;
    const smem_addr base = smem_address(lnr_smem);
    // ldmatrix: this lane names row lane % 8 of matrix lane / 8; A's matrices are (rows +0/+8) × (k +0/+8) in
    // register order a0..a3, W's are (k +0/+8) of feature tile nt, then of nt + 1
    const int lrow = lane & 7, lmat = lane >> 3;
    const int aLane = 2 * ((wm * (MT * 16) + (lmat & 1) * 8 + lrow) * LN_KS + (lmat >> 1) * 8);
    const int wLane = 2 * ((wn * 64 + (lmat >> 1) * 8 + lrow) * LN_KS + (lmat & 1) * 8);

    float acc[MT][NT][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int nt = 0; nt < NT; ++nt)
#pragma unroll
            for (int i = 0; i < 4; ++i) acc[mt][nt][i] = 0.f;

    const int tiles = (K + LN_BK - 1) / LN_BK;
#pragma unroll
    for (int s = 0; s < LN_STAGES - 1; ++s)
    {
        if (s < tiles) lnr_stage<D>(base + s * stageBytes, base + s * stageBytes + 2 * LN_BM * LN_KS, X, xsn, W, K, N, m0, s * LN_BK);
        cp_async_commit();
    }
    for (int kt = 0; kt < tiles; ++kt)
    {
        cp_async_wait_prior<LN_STAGES - 2>();   // this thread's copies of tile kt have landed...
        __syncthreads();                        // ...everybody's, and every warp has left tile kt - 1's stage
        const int next = kt + LN_STAGES - 1, ns = next % LN_STAGES;
        if (next < tiles) lnr_stage<D>(base + ns * stageBytes, base + ns * stageBytes + 2 * LN_BM * LN_KS, X, xsn, W, K, N, m0, next * LN_BK);
        cp_async_commit();                      // possibly empty: one group per iteration keeps the wait's count right

        const smem_addr sA = base + (kt % LN_STAGES) * stageBytes, sW = sA + 2 * LN_BM * LN_KS;
#pragma unroll
        for (int kk = 0; kk < LN_BK / 16; ++kk)
        {
            unsigned af[MT][4];
#pragma unroll
            for (int mt = 0; mt < MT; ++mt) ldmatrix_x4<false>(af[mt], sA + aLane + 2 * (mt * 16 * LN_KS + kk * 16));
#pragma unroll
            for (int nt = 0; nt < NT; nt += 2)
            {
                unsigned wb[4];
                ldmatrix_x4<false>(wb, sW + wLane + 2 * (nt * 8 * LN_KS + kk * 16));
                const unsigned b0[2] = { wb[0], wb[1] }, b1[2] = { wb[2], wb[3] };
#pragma unroll
                for (int mt = 0; mt < MT; ++mt)
                {
                    mma16816<BF16>(acc[mt][nt], af[mt], b0);
                    mma16816<BF16>(acc[mt][nt + 1], af[mt], b1);
                }
            }
        }
    }

    // the projection as cuBLASLt would store it (bias added, rounded)
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int nt = 0; nt < NT; ++nt)
#pragma unroll
            for (int i = 0; i < 4; ++i)
            {
                const int col = wn * 64 + nt * 8 + 2 * t + (i & 1);
                acc[mt][nt][i] = ld_round(acc[mt][nt][i] + (bias ? ld(bias, dt, (i64)h * D + col) : 0.f), dt);
            }
    // each row's mean (LayerNorm), then its mean square about it (0 for RMSNorm): the second pass reads registers
    float mean[MT][2], r[MT][2];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) mean[mt][0] = mean[mt][1] = 0.f;
    if (CENTER)
    {
        lnr_row_sums<false, MT, NT, WN>(acc, mean, red, mean, wm, wn, g, t);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) mean[mt][0] /= (float)D, mean[mt][1] /= (float)D;
    }
    lnr_row_sums<true, MT, NT, WN>(acc, mean, red2, r, wm, wn, g, t);
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) r[mt][0] = rsqrtf(r[mt][0] / (float)D + eps), r[mt][1] = rsqrtf(r[mt][1] / (float)D + eps);

    const i64 wRow = (i64)(h / rowHeads) * D;
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int half = 0; half < 2; ++half)
        {
            const int row = wm * MT * 16 + mt * 16 + half * 8 + g, n = m0 + row;
            if (n >= N) continue;
            u16* Y = (u16*)y + b * ysb + (i64)n * ysn + (i64)h * D;
#pragma unroll
            for (int nt = 0; nt < NT; ++nt)
            {
                const int c = wn * 64 + nt * 8 + 2 * t;   // the pair (c, c + 1)
                float u = (acc[mt][nt][2 * half] - mean[mt][half]) * r[mt][half], v = (acc[mt][nt][2 * half + 1] - mean[mt][half]) * r[mt][half];
                if (nw)
                {
                    u *= ld(nw, nwdt, wRow + c);
                    v *= ld(nw, nwdt, wRow + c + 1);
                }
                if (CENTER && nb)
                {
                    u += ld(nb, nbdt, wRow + c);
                    v += ld(nb, nbdt, wRow + c + 1);
                }
                u = ld_round(u, dt);
                v = ld_round(v, dt);
                if (cosT)
                {
                    const i64 ta = (i64)n * tsn + (i64)(h % rowHeads) * tsh + c;
                    const float ru = u * ld(cosT, tdt, ta) - v * ld(sinT, tdt, ta);
                    const float rv = v * ld(cosT, tdt, ta + 1) + u * ld(sinT, tdt, ta + 1);
                    u = ru;
                    v = rv;
                }
                *(unsigned*)(Y + c) = pack_f32x2<BF16>(u, v);
            }
        }
}

// The four entry points of one head dim D: linear_{rms,layer}_norm_rope_{bf16,f16}_dD.
#define LNR_KERNELS(D) \
    extern "C" __global__ void __launch_bounds__(LN_THREADS, LN_MIN_BLOCKS) linear_rms_norm_rope_bf16_d##D(void* y, i64 ysb, i64 ysn, const void* x, i64 xsb, \
        i64 xsn, const void* w, const void* bias, const void* nw, int nwdt, const void* nb, int nbdt, i64 rowHeads, \
        const void* cosT, const void* sinT, int tdt, i64 tsn, i64 tsh, int N, int K, int H, float eps) \
    { \
        linear_norm_rope<D, true, false>(y, ysb, ysn, x, xsb, xsn, w, bias, nw, nwdt, nb, nbdt, rowHeads, cosT, sinT, tdt, tsn, tsh, N, K, H, eps); \
    } \
    extern "C" __global__ void __launch_bounds__(LN_THREADS, LN_MIN_BLOCKS) linear_rms_norm_rope_f16_d##D(void* y, i64 ysb, i64 ysn, const void* x, i64 xsb, \
        i64 xsn, const void* w, const void* bias, const void* nw, int nwdt, const void* nb, int nbdt, i64 rowHeads, \
        const void* cosT, const void* sinT, int tdt, i64 tsn, i64 tsh, int N, int K, int H, float eps) \
    { \
        linear_norm_rope<D, false, false>(y, ysb, ysn, x, xsb, xsn, w, bias, nw, nwdt, nb, nbdt, rowHeads, cosT, sinT, tdt, tsn, tsh, N, K, H, eps); \
    } \
    extern "C" __global__ void __launch_bounds__(LN_THREADS, LN_MIN_BLOCKS) linear_layer_norm_rope_bf16_d##D(void* y, i64 ysb, i64 ysn, const void* x, i64 xsb, \
        i64 xsn, const void* w, const void* bias, const void* nw, int nwdt, const void* nb, int nbdt, i64 rowHeads, \
        const void* cosT, const void* sinT, int tdt, i64 tsn, i64 tsh, int N, int K, int H, float eps) \
    { \
        linear_norm_rope<D, true, true>(y, ysb, ysn, x, xsb, xsn, w, bias, nw, nwdt, nb, nbdt, rowHeads, cosT, sinT, tdt, tsn, tsh, N, K, H, eps); \
    } \
    extern "C" __global__ void __launch_bounds__(LN_THREADS, LN_MIN_BLOCKS) linear_layer_norm_rope_f16_d##D(void* y, i64 ysb, i64 ysn, const void* x, i64 xsb, \
        i64 xsn, const void* w, const void* bias, const void* nw, int nwdt, const void* nb, int nbdt, i64 rowHeads, \
        const void* cosT, const void* sinT, int tdt, i64 tsn, i64 tsh, int N, int K, int H, float eps) \
    { \
        linear_norm_rope<D, false, true>(y, ysb, ysn, x, xsb, xsn, w, bias, nw, nwdt, nb, nbdt, rowHeads, cosT, sinT, tdt, tsn, tsh, N, K, H, eps); \
    }

LNR_KERNELS(64)
LNR_KERNELS(128)
