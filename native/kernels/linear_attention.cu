// ReLU linear attention (IOps.LinearAttentionSums / LinearAttentionApply), SANA's self-attention and DC-AE's
// multiscale attention. The sums S[e, d] = Σ_j v'[j, e]·relu(k[j, d]) (v' = v with a ones column) are float32 per
// (batch, head), so sequence parallelism can all-reduce them; the apply divides S·relu(q) by its last row.
#include "common.cuh"

// One block per (batch, head) (blockIdx.x = b·H + h). Each thread owns one entry of S [D + 1, D] per pass (passes
// until every entry is done) and walks the tokens in tiles of `tile`, whose relu(k) and v rows the block stages in
// shared memory: 2·tile·D floats. k and v are [B, N, H, D] of dtype dt with a dense last axis, read through their
// batch, token and head strides (views of a stacked QKV projection need no copy).
extern "C" __global__ void linear_attention_sums(float* s, const void* k, i64 kb, i64 kn, i64 kh, const void* v, i64 vb, i64 vn, i64 vh,
    int dt, i64 N, int H, int D, int tile)
{
    XDIT_DYNAMIC_SMEM(float, sm);
    float* ks = sm;
    float* vs = sm + (i64)tile * D;
    const i64 bh = blockIdx.x, b = bh / H, h = bh % H;
    const int entries = (D + 1) * D;
    float* out = s + bh * entries;
    for (int base = 0; base < entries; base += blockDim.x)
    {
        const int idx = base + threadIdx.x, e = idx / D, d = idx % D;
        float acc = 0.f;
        for (i64 t0 = 0; t0 < N; t0 += tile)
        {
            const int rows = (int)(N - t0 < tile ? N - t0 : tile);
            __syncthreads();   // the previous tile is read by every thread
            for (int i = threadIdx.x; i < rows * D; i += blockDim.x)
            {
                const i64 j = t0 + i / D, d = i % D;
                ks[i] = fmaxf(ld(k, dt, b * kb + j * kn + h * kh + d), 0.f);
                vs[i] = ld(v, dt, b * vb + j * vn + h * vh + d);
            }
            __syncthreads();
            if (idx < entries)
            {
                if (e < D)
                    for (int j = 0; j < rows; j++) acc += vs[j * D + e] * ks[j * D + d];
                else
                    for (int j = 0; j < rows; j++) acc += ks[j * D + d];
            }
        }
        if (idx < entries) out[idx] = acc;
    }
}

// One thread per output element of [B, N, H, D] (contiguous): out = (S[e]·relu(q)) / (S[D]·relu(q) + eps). q has a
// dense last axis and is read through its batch, token and head strides.
extern "C" __global__ void linear_attention_apply(void* out, const void* q, i64 qb, i64 qn, i64 qh, int dt, const float* s, i64 N, int H, int D,
    float eps, i64 count)
{
    GRID_STRIDE(i, count)
    {
        const i64 row = i / D, e = i % D, h = row % H, n = (row / H) % N, b = row / (N * H);
        const i64 q0 = b * qb + n * qn + h * qh;
        const float* sh = s + (b * H + h) * (i64)(D + 1) * D;
        const float* se = sh + e * D;
        const float* sd = sh + (i64)D * D;
        float num = 0.f, den = 0.f;
        for (int d = 0; d < D; d++)
        {
            const float r = fmaxf(ld(q, dt, q0 + d), 0.f);
            num += se[d] * r;
            den += sd[d] * r;
        }
        st(out, dt, i, num / (den + eps));
    }
}
