// Tiled flash attention (online softmax), float32 accumulation, any dtype and any head dim up to ATT_MAXD: the
// general kernel, for float32 and for head dims above 128. bf16/f16 with head dims up to 128 run on the tensor
// cores instead (attention_tc.cuh). Arguments and semantics: attention_args.cuh.
//
// One warp per query row, ATT_WARPS rows per block share K/V tiles of ATT_TILE keys staged in shared memory as
// float32. Lane j scores key j of the tile (a full dot product from shared memory; K rows padded to d+1 floats so
// the 32 lanes hit 32 banks), the warp takes the tile max and sum, and each lane accumulates the output dims lane,
// lane+32, ... with the probabilities broadcast by shuffles.
#include "common.cuh"
#include "attention_args.cuh"

#define ATT_WARPS 8
#define ATT_TILE 32
#define ATT_MAXD 512
#define ATT_PER (ATT_MAXD / 32)

extern "C" __global__ void __launch_bounds__(ATT_WARPS * 32) flash_attention(AttnArgs a)
{
    XDIT_DYNAMIC_SMEM(float, smem);
    const int d = a.d, dp = d + 1;
    float* Ks = smem;                    // [ATT_TILE][d + 1]
    float* Vs = Ks + ATT_TILE * dp;      // [ATT_TILE][d]
    float* Qs = Vs + ATT_TILE * d;       // [ATT_WARPS][d]
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int b = blockIdx.y / a.H, h = blockIdx.y % a.H;
    const int qi = blockIdx.x * ATT_WARPS + warp;
    const bool active = qi < a.Nq;

    for (int c = lane; c < d; c += 32)
        Qs[warp * d + c] = active ? ld(a.q, a.dtype, b * a.qs[0] + (i64)qi * a.qs[1] + h * a.qs[2] + c) * a.scale : 0.f;

    float m = -XDIT_INF, l = 0.f;
    float acc[ATT_PER];
#pragma unroll
    for (int i = 0; i < ATT_PER; ++i) acc[i] = 0.f;

    // the keys any row of this block can see: up to its last query under the causal mask, within the band of
    // its first and last query under a window
    const int firstQ = (int)blockIdx.x * ATT_WARPS, lastQ = min(a.Nq - 1, firstQ + ATT_WARPS - 1);
    int kBegin = 0, kEnd = a.Nk;
    if (a.causal) kEnd = min(kEnd, lastQ + 1);
    if (a.window >= 0)
    {
        kBegin = max(0, firstQ - a.window);
        kEnd = min(kEnd, lastQ + a.window + 1);
    }

    for (int k0 = kBegin; k0 < kEnd; k0 += ATT_TILE)
    {
        __syncthreads();   // the previous tile is consumed (and Qs is written on the first pass)
        for (int idx = threadIdx.x; idx < ATT_TILE * d; idx += blockDim.x)
        {
            int j = idx / d, c = idx - j * d, kj = k0 + j;
            float kv = 0.f, vv = 0.f;
            if (kj < a.Nk)
            {
                kv = ld(a.k, a.dtype, b * a.ks[0] + (i64)kj * a.ks[1] + h * a.ks[2] + c);
                vv = ld(a.v, a.dtype, b * a.vs[0] + (i64)kj * a.vs[1] + h * a.vs[2] + c);
            }
            Ks[j * dp + c] = kv;
            Vs[j * d + c] = vv;
        }
        __syncthreads();
        if (!active) continue;

        const int kj = k0 + lane;
        float s = -XDIT_INF;
        if (kj < kEnd && !(a.causal && kj > qi) && !(a.window >= 0 && (kj - qi > a.window || qi - kj > a.window)))
        {
            const float* qr = Qs + warp * d;
            const float* kr = Ks + lane * dp;
            float dot = 0.f;
            for (int c = 0; c < d; ++c) dot += qr[c] * kr[c];
            s = dot;
            if (a.keyBias) s += ld(a.keyBias, a.kbDtype, b * a.kbs[0] + (i64)kj * a.kbs[1]);
            if (a.bias) s += ld(a.bias, a.biasDtype, b * a.bs[0] + h * a.bs[1] + (i64)qi * a.bs[2] + (i64)kj * a.bs[3]);
        }
        const float mNew = fmaxf(m, warp_max(s));
        if (mNew == -XDIT_INF) continue;          // everything so far is masked (warp-uniform)
        const float alpha = expf(m - mNew);       // m = −∞ gives 0
        const float p = expf(s - mNew);           // s = −∞ gives 0
        l = l * alpha + warp_sum(p);
#pragma unroll
        for (int i = 0; i < ATT_PER; ++i) acc[i] *= alpha;
        for (int j = 0; j < ATT_TILE; ++j)
        {
            const float pj = __shfl_sync(0xffffffffu, p, j);
            if (pj == 0.f) continue;              // uniform across the warp
            const float* vr = Vs + j * d;
#pragma unroll
            for (int i = 0; i < ATT_PER; ++i)
            {
                const int c = lane + 32 * i;
                if (c < d) acc[i] += pj * vr[c];
            }
        }
        m = mNew;
    }
    if (!active) return;

    const float inv = l > 0.f ? 1.f / l : 0.f;
    const i64 obase = b * a.os[0] + (i64)qi * a.os[1] + h * a.os[2];
#pragma unroll
    for (int i = 0; i < ATT_PER; ++i)
    {
        const int c = lane + 32 * i;
        if (c < d) st(a.o, a.dtype, obase + c, acc[i] * inv);
    }
    if (a.hasLse && lane == 0)
        a.lse[((i64)b * a.H + h) * a.Nq + qi] = l > 0.f ? m + logf(l) : -XDIT_INF;
}
