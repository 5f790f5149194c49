// Flash attention on the tensor cores: bf16 or f16 q/k/v, float32 accumulation and softmax, head dims up to 128.
// Arguments and semantics are flash_attention's (attention_args.cuh); the host picks this kernel for 16-bit inputs
// with d <= 128 and the general one (attention.cu) otherwise. The kernel is a template over the padded head dim;
// attention_tc_d{32,64,80,96,128}.cu each instantiate one, as modules of their own, so a model compiles (NVRTC,
// on first use) only the head dim it has.
//
// FlashAttention-2's schedule. A block of TC_WARPS warps owns TC_BM query rows, 16 per warp, and walks the keys in
// tiles of TC_BN. Per tile: the block stages K and V row-major in shared memory (two stages: the next tile's
// asynchronous copies run while this one is computed on); each warp computes its 16 x TC_BN scores S = Q·Kᵀ with
// mma.sync (Q stays in registers as A operands for the whole walk), applies scale, masks and biases, updates the
// running row max and sum (exp2, log2(e) folded into the scale), rescales its output accumulators and adds P·V,
// reading P straight from the S accumulators (mma.cuh: two n8 accumulator tiles are one A operand). The B operands
// come from shared memory by ldmatrix, K's as stored and V's transposed on the way. The head dim is padded with
// zeros to DP, a multiple of 16; one kernel is compiled per DP and dtype.
//
// Each thread holds two query rows of its warp's 16 (rowA = g, rowB = g + 8 in mma.cuh's terms) and, of every
// 8-wide column tile, the two columns 2t and 2t + 1; a row's max and sum are reduced over the 4 threads of a quad.
#pragma once
#include "common.cuh"
#include "attention_args.cuh"
#include "cp_async.cuh"
#include "mma.cuh"

#define TC_WARPS 4
#define TC_BM (TC_WARPS * 16)   // query rows per block
// Compile-time knobs to try on a device with XDIT_NVRTC_OPTIONS (tests/gpu-attention-probe.sh's VARIANTS):
// TC_MIN_BLOCKS, __launch_bounds__'s blocks per multiprocessor (on the H200, 2 to 4 changed nothing at d80 and 4
// spilled at d128); TC_LAZY_RESCALE, skip the output rescale of a tile that moves no row maximum of the warp.
#ifndef TC_MIN_BLOCKS
#define TC_MIN_BLOCKS 1
#endif
#define TC_BN 64                // keys per tile
#define TC_LOG2E 1.4426950408889634f
#define TC_LN2 0.6931471805599453f

// Row stride of the K and V tiles in 16-bit values. The +8 (16 bytes) shifts consecutive rows by 4 banks (by 12 or
// 20 for DP 80, 32, 96), so the 8 rows of 16 bytes an ldmatrix matrix reads cover all 32 banks once.
template <int DP>
__device__ __forceinline__ int tc_ks() { return DP + 8; }

// 2^x with MUFU.EX2 alone: exp2f adds a range fix-up for results below 2^-126, which the probabilities (rounded to
// 16 bits, summed against a row maximum of 1) never need.
__device__ __forceinline__ float tc_exp2(float x)
{
#ifdef XDIT_HOST_EMU
    return exp2f(x);
#else
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
#endif
}

__device__ __forceinline__ bool tc_aligned16(const void* p) { return ((unsigned long long)p & 15) == 0; }

// Whether K and V rows can be read 16 bytes at a time: d a multiple of 8 and every row start 16-byte aligned.
__device__ __forceinline__ bool tc_vector_rows(const AttnArgs& a)
{
    if (a.d % 8 != 0 || !tc_aligned16(a.k) || !tc_aligned16(a.v)) return false;
    for (int i = 0; i < 3; ++i)
        if (a.ks[i] % 8 != 0 || a.vs[i] % 8 != 0) return false;
    return true;
}

// Stages keys [k0, k0 + TC_BN) of one (b, h), K as Ks[j][c] and V as Vs[j][c], by 16-byte asynchronous copies when
// rows allow (the caller commits and waits for them), by plain stores otherwise. Keys past Nk and dims past d are
// zero: zero K dims keep the padded dot product exact, and a zero V row keeps 0·NaN out of the output.
template <int DP>
__device__ __forceinline__ void tc_stage(const AttnArgs& a, int b, int h, int k0, bool vec, u16* Ks, u16* Vs)
{
    const int d = a.d, ks = tc_ks<DP>();
    const u16* K = (const u16*)a.k + b * a.ks[0] + h * a.ks[2];
    const u16* V = (const u16*)a.v + b * a.vs[0] + h * a.vs[2];
    if (vec)
    {
        // each of the block's TC_WARPS * 32 threads copies the same chunks of every tile: a fixed count, unrolled,
        // whose shared offsets are constants the compiler can keep out of the walk over the keys
        constexpr int chunks = DP / 8, perThread = TC_BN * chunks / (TC_WARPS * 32);
        static_assert(TC_BN * chunks % (TC_WARPS * 32) == 0, "the chunks of a tile split evenly over the block");
        const smem_addr sK = smem_address(Ks), sV = smem_address(Vs);
#pragma unroll
        for (int r = 0; r < perThread; ++r)
        {
            const int idx = threadIdx.x + r * TC_WARPS * 32;
            const int j = idx / chunks, c = (idx - j * chunks) * 8, kj = k0 + j;
            const bool inside = kj < a.Nk && c < d;
            const int row = inside ? kj : 0, col = inside ? c : 0;   // a valid address even when nothing is read
            cp_async16(sK + 2 * (j * ks + c), K + (i64)row * a.ks[1] + col, inside ? 16 : 0);
            cp_async16(sV + 2 * (j * ks + c), V + (i64)row * a.vs[1] + col, inside ? 16 : 0);
        }
    }
    else
    {
        for (int idx = threadIdx.x; idx < TC_BN * DP; idx += blockDim.x)
        {
            const int j = idx / DP, c = idx - j * DP, kj = k0 + j;
            u16 kv = 0, vv = 0;
            if (kj < a.Nk && c < d)
            {
                kv = K[(i64)kj * a.ks[1] + c];
                vv = V[(i64)kj * a.vs[1] + c];
            }
            Ks[j * ks + c] = kv;
            Vs[j * ks + c] = vv;
        }
    }
}

// Element (row, col) of q for this (b, h), zero outside [Nq) x [d).
__device__ __forceinline__ unsigned tc_q(const AttnArgs& a, const u16* Q, int row, int col)
{
    return row < a.Nq && col < a.d ? Q[(i64)row * a.qs[1] + col] : 0u;
}

template <int DP, bool BF16>
__device__ __forceinline__ void flash_attention_tc(const AttnArgs& a)
{
    // two stages of [K tile, V tile], each [TC_BN][tc_ks<DP>()]: tile i + 1 loads while tile i is computed on
    XDIT_DYNAMIC_SMEM(u16, tc_smem);
    const int tileElems = TC_BN * tc_ks<DP>();
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    // ldmatrix row addresses: this lane names row lane % 8 of matrix lane / 8 (the matrices are listed where they
    // are read); kLane and vLane are its byte offsets in a K and a V tile for nt, kk, nd = 0
    const int lrow = lane & 7, lmat = lane >> 3;
    const int kLane = 2 * (((lmat >> 1) * 8 + lrow) * tc_ks<DP>() + 8 * (lmat & 1));
    const int vLane = 2 * ((8 * (lmat & 1) + lrow) * tc_ks<DP>() + (lmat >> 1) * 8);
    const smem_addr smemBase = smem_address(tc_smem);
    const int b = blockIdx.y / a.H, h = blockIdx.y % a.H;
    const int rowA = blockIdx.x * TC_BM + warp * 16 + g, rowB = rowA + 8;
    const bool vec = tc_vector_rows(a);

    // this warp's 16 query rows as DP/16 A operands
    const u16* Q = (const u16*)a.q + b * a.qs[0] + h * a.qs[2];
    unsigned qf[DP / 16][4];
#pragma unroll
    for (int kk = 0; kk < DP / 16; ++kk)
#pragma unroll
        for (int r = 0; r < 4; ++r)
        {
            const int row = (r & 1) ? rowB : rowA, col = kk * 16 + 2 * t + 8 * (r >> 1);
            qf[kk][r] = tc_q(a, Q, row, col) | (tc_q(a, Q, row, col + 1) << 16);
        }

    float o[DP / 8][4];
#pragma unroll
    for (int nd = 0; nd < DP / 8; ++nd)
#pragma unroll
        for (int i = 0; i < 4; ++i) o[nd][i] = 0.f;
    float mA = -XDIT_INF, mB = -XDIT_INF;   // running row maxima, log2 units
    float lA = 0.f, lB = 0.f;               // this thread's part of the row sums
    const float scale2 = a.scale * TC_LOG2E;
    const bool plain = !a.causal && a.window < 0 && !a.keyBias && !a.bias && scale2 > 0.f;

    // the key tiles any row of this block can see: up to its last query under the causal mask, those touching the
    // band of its rows under a window
    const int firstQ = (int)blockIdx.x * TC_BM;
    int kBegin = 0, kEnd = a.Nk;
    if (a.causal) kEnd = min(kEnd, min(a.Nq, firstQ + TC_BM));
    if (a.window >= 0)
    {
        kBegin = max(0, firstQ - a.window) / TC_BN * TC_BN;
        kEnd = min(kEnd, min(a.Nq, firstQ + TC_BM) - 1 + a.window + 1);
    }

    const int tiles = kEnd > kBegin ? (kEnd - kBegin + TC_BN - 1) / TC_BN : 0;
    if (tiles > 0) tc_stage<DP>(a, b, h, kBegin, vec, tc_smem, tc_smem + tileElems);
    cp_async_commit();
    for (int it = 0; it < tiles; ++it)
    {
        const int k0 = kBegin + it * TC_BN;
        const smem_addr sKs = smemBase + (it & 1) * 4 * tileElems, sVs = sKs + 2 * tileElems;
        // the other stage was last read in iteration it - 1, which every warp has left (the barrier at its end)
        u16* next = tc_smem + ((it + 1) & 1) * 2 * tileElems;
        if (it + 1 < tiles) tc_stage<DP>(a, b, h, k0 + TC_BN, vec, next, next + tileElems);
        cp_async_commit();        // possibly empty: one group per iteration keeps the count below right
        cp_async_wait_prior<1>(); // this thread's copies of tile it have landed...
        __syncthreads();          // ...and everybody's

        // S = Q·Kᵀ for keys [k0, k0 + TC_BN)
        float s[TC_BN / 8][4];
#pragma unroll
        for (int nt = 0; nt < TC_BN / 8; ++nt)
#pragma unroll
            for (int i = 0; i < 4; ++i) s[nt][i] = 0.f;
        // B operands of two key tiles at once: matrices (nt, dims kk·16 + 0..7), (nt, + 8..15), (nt + 1, ...)
#pragma unroll
        for (int kk = 0; kk < DP / 16; ++kk)
#pragma unroll
            for (int nt = 0; nt < TC_BN / 8; nt += 2)
            {
                unsigned kb[4];
                ldmatrix_x4<false>(kb, sKs + kLane + 2 * (nt * 8 * tc_ks<DP>() + kk * 16));
                const unsigned b0[2] = { kb[0], kb[1] }, b1[2] = { kb[2], kb[3] };
                mma16816<BF16>(s[nt], qf[kk], b0);
                mma16816<BF16>(s[nt + 1], qf[kk], b1);
            }

        // scale, masks and biases, in log2 units; the tile's row maxima. A tile that no mask or bias touches (every
        // key inside Nk, no causal mask, window or bias: most tiles of a DiT) keeps its raw scores, takes their
        // maxima times the (positive) scale, and has the scale applied inside the exponent's FFMA (sc below).
        float mxA = -XDIT_INF, mxB = -XDIT_INF, sc = 1.f;
        if (plain && k0 + TC_BN <= a.Nk)
        {
#pragma unroll
            for (int nt = 0; nt < TC_BN / 8; ++nt)
            {
                mxA = fmaxf(mxA, fmaxf(s[nt][0], s[nt][1]));
                mxB = fmaxf(mxB, fmaxf(s[nt][2], s[nt][3]));
            }
            mxA *= scale2;
            mxB *= scale2;
            sc = scale2;
        }
        else
        {
#pragma unroll
            for (int nt = 0; nt < TC_BN / 8; ++nt)
#pragma unroll
                for (int i = 0; i < 4; ++i)
                {
                    const int row = (i >> 1) ? rowB : rowA, col = k0 + nt * 8 + 2 * t + (i & 1);
                    float x = -XDIT_INF;
                    if (col < a.Nk && !(a.causal && col > row) && !(a.window >= 0 && (col - row > a.window || row - col > a.window)))
                    {
                        x = s[nt][i] * scale2;
                        if (row < a.Nq)   // rows past Nq are computed but never stored; their biases do not exist
                        {
                            if (a.keyBias) x += ld(a.keyBias, a.kbDtype, b * a.kbs[0] + (i64)col * a.kbs[1]) * TC_LOG2E;
                            if (a.bias)
                                x += ld(a.bias, a.biasDtype, b * a.bs[0] + h * a.bs[1] + (i64)row * a.bs[2] + (i64)col * a.bs[3]) * TC_LOG2E;
                        }
                    }
                    s[nt][i] = x;
                    if (i >> 1) mxB = fmaxf(mxB, x); else mxA = fmaxf(mxA, x);
                }
        }
        mxA = fmaxf(mxA, __shfl_xor_sync(0xffffffffu, mxA, 1));
        mxA = fmaxf(mxA, __shfl_xor_sync(0xffffffffu, mxA, 2));
        mxB = fmaxf(mxB, __shfl_xor_sync(0xffffffffu, mxB, 1));
        mxB = fmaxf(mxB, __shfl_xor_sync(0xffffffffu, mxB, 2));

        // online softmax; a row with every key so far masked keeps max −∞ and exponentiates against 0 (all zeros)
        const float mNewA = fmaxf(mA, mxA), mNewB = fmaxf(mB, mxB);
        const float refA = mNewA == -XDIT_INF ? 0.f : mNewA, refB = mNewB == -XDIT_INF ? 0.f : mNewB;
        const float alphaA = tc_exp2(mA - refA), alphaB = tc_exp2(mB - refB);   // a max of −∞ gives 0
        float sumA = 0.f, sumB = 0.f;
#pragma unroll
        for (int nt = 0; nt < TC_BN / 8; ++nt)
        {
            s[nt][0] = tc_exp2(fmaf(s[nt][0], sc, -refA));
            s[nt][1] = tc_exp2(fmaf(s[nt][1], sc, -refA));
            s[nt][2] = tc_exp2(fmaf(s[nt][2], sc, -refB));
            s[nt][3] = tc_exp2(fmaf(s[nt][3], sc, -refB));
            sumA += s[nt][0] + s[nt][1];
            sumB += s[nt][2] + s[nt][3];
        }
        lA = lA * alphaA + sumA;
        lB = lB * alphaB + sumB;
        mA = mNewA;
        mB = mNewB;
#ifdef TC_LAZY_RESCALE
        // once the row maxima settle, most tiles leave every alpha of the warp at exactly 1 (2^0)
        if (__any_sync(0xffffffffu, alphaA != 1.f || alphaB != 1.f))
#endif
#pragma unroll
        for (int nd = 0; nd < DP / 8; ++nd)
        {
            o[nd][0] *= alphaA;
            o[nd][1] *= alphaA;
            o[nd][2] *= alphaB;
            o[nd][3] *= alphaB;
        }

        // O += P·V, 16 keys at a time
#pragma unroll
        for (int kk = 0; kk < TC_BN / 16; ++kk)
        {
            const unsigned pf[4] = {
                pack_f32x2<BF16>(s[2 * kk][0], s[2 * kk][1]),
                pack_f32x2<BF16>(s[2 * kk][2], s[2 * kk][3]),
                pack_f32x2<BF16>(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                pack_f32x2<BF16>(s[2 * kk + 1][2], s[2 * kk + 1][3]),
            };
            // B operands of two dim tiles at once, V read transposed: matrices (keys kk·16 + 0..7, dims nd·8 ..),
            // (keys + 8..15, nd), (keys 0..7, nd + 1), (keys 8..15, nd + 1)
#pragma unroll
            for (int nd = 0; nd < DP / 8; nd += 2)
            {
                unsigned vb[4];
                ldmatrix_x4<true>(vb, sVs + vLane + 2 * (kk * 16 * tc_ks<DP>() + nd * 8));
                const unsigned b0[2] = { vb[0], vb[1] }, b1[2] = { vb[2], vb[3] };
                mma16816<BF16>(o[nd], pf, b0);
                mma16816<BF16>(o[nd + 1], pf, b1);
            }
        }
        __syncthreads();   // every warp is done with this stage before iteration it + 1 loads into it
    }

    lA += __shfl_xor_sync(0xffffffffu, lA, 1);
    lA += __shfl_xor_sync(0xffffffffu, lA, 2);
    lB += __shfl_xor_sync(0xffffffffu, lB, 1);
    lB += __shfl_xor_sync(0xffffffffu, lB, 2);
    const float invA = lA > 0.f ? 1.f / lA : 0.f, invB = lB > 0.f ? 1.f / lB : 0.f;
#pragma unroll
    for (int nd = 0; nd < DP / 8; ++nd)
#pragma unroll
        for (int i = 0; i < 4; ++i)
        {
            const int row = (i >> 1) ? rowB : rowA, col = nd * 8 + 2 * t + (i & 1);
            if (row < a.Nq && col < a.d)
                st(a.o, a.dtype, b * a.os[0] + (i64)row * a.os[1] + h * a.os[2] + col, o[nd][i] * ((i >> 1) ? invB : invA));
        }
    if (a.hasLse && t == 0)
    {
        float* lse = a.lse + ((i64)b * a.H + h) * a.Nq;
        if (rowA < a.Nq) lse[rowA] = lA > 0.f ? (mA + log2f(lA)) * TC_LN2 : -XDIT_INF;
        if (rowB < a.Nq) lse[rowB] = lB > 0.f ? (mB + log2f(lB)) * TC_LN2 : -XDIT_INF;
    }
}

// The two entry points of one padded head dim: flash_attention_tc_bf16_dDP and flash_attention_tc_f16_dDP.
#define TC_KERNELS(DP)                                                                                  \
    extern "C" __global__ void __launch_bounds__(TC_WARPS * 32, TC_MIN_BLOCKS) flash_attention_tc_bf16_d##DP(AttnArgs a) \
    {                                                                                                    \
        flash_attention_tc<DP, true>(a);                                                                 \
    }                                                                                                    \
    extern "C" __global__ void __launch_bounds__(TC_WARPS * 32, TC_MIN_BLOCKS) flash_attention_tc_f16_d##DP(AttnArgs a)  \
    {                                                                                                    \
        flash_attention_tc<DP, false>(a);                                                                \
    }
