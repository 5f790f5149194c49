// ReLU linear attention (IOps.LinearAttentionSums / LinearAttentionApply), SANA's self-attention and DC-AE's
// multiscale attention. The sums S[e, d] = Σ_j v'[j, e]·relu(k[j, d]) (v' = v with a ones column) are float32 per
// (batch, head), so sequence parallelism can all-reduce them; the apply divides S·relu(q) by its last row.
#include "common.cuh"

// One block per (batch, head) (blockIdx.x = b·H + h). Each thread owns one entry of S [D + 1, D] per pass (passes
// until every entry is done) and walks the tokens in tiles of `tile`, whose relu(k) and v rows the block stages in
// shared memory: 2·tile·D floats. k and v are contiguous [B, N, H, D] of dtype dt.
extern "C" __global__ void linear_attention_sums(float* s, const void* k, const void* v, int dt, i64 N, int H, int D, int tile)
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
                const i64 at = ((b * N + t0 + i / D) * H + h) * D + i % D;
                ks[i] = fmaxf(ld(k, dt, at), 0.f);
                vs[i] = ld(v, dt, at);
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

// One thread per output element of [B, N, H, D]: out = (S[e]·relu(q)) / (S[D]·relu(q) + eps). q contiguous.
extern "C" __global__ void linear_attention_apply(void* out, const void* q, int dt, const float* s, i64 N, int H, int D, float eps, i64 count)
{
    GRID_STRIDE(i, count)
    {
        const i64 row = i / D, e = i % D, h = row % H, b = row / (N * H);
        const float* sh = s + (b * H + h) * (i64)(D + 1) * D;
        const float* se = sh + e * D;
        const float* sd = sh + (i64)D * D;
        float num = 0.f, den = 0.f;
        for (int d = 0; d < D; d++)
        {
            const float r = fmaxf(ld(q, dt, row * D + d), 0.f);
            num += se[d] * r;
            den += sd[d] * r;
        }
        st(out, dt, i, num / (den + eps));
    }
}
