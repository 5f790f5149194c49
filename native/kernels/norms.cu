// Row reductions, one block per row (or per group), float32 statistics, two passes for a stable variance.
// x and y are contiguous; weight/bias may be null.
#include "common.cuh"

extern "C" __global__ void layer_norm(void* y, const void* x, int dt, const void* w, int wdt, const void* bias, int bdt,
    i64 D, float eps)
{
    __shared__ float sh[32];
    i64 row = blockIdx.x;
    const i64 base = row * D;
    float s = 0.f;
    for (i64 c = threadIdx.x; c < D; c += blockDim.x) s += ld(x, dt, base + c);
    float mean = block_sum(s, sh) / (float)D;
    float v = 0.f;
    for (i64 c = threadIdx.x; c < D; c += blockDim.x) { float t = ld(x, dt, base + c) - mean; v += t * t; }
    float rstd = rsqrtf(block_sum(v, sh) / (float)D + eps);
    for (i64 c = threadIdx.x; c < D; c += blockDim.x)
    {
        float t = (ld(x, dt, base + c) - mean) * rstd;
        if (w) t *= ld(w, wdt, c);
        if (bias) t += ld(bias, bdt, c);
        st(y, dt, base + c, t);
    }
}

extern "C" __global__ void rms_norm(void* y, const void* x, int dt, const void* w, int wdt, i64 D, float eps)
{
    __shared__ float sh[32];
    const i64 base = (i64)blockIdx.x * D;
    float s = 0.f;
    for (i64 c = threadIdx.x; c < D; c += blockDim.x) { float t = ld(x, dt, base + c); s += t * t; }
    float r = rsqrtf(block_sum(s, sh) / (float)D + eps);
    for (i64 c = threadIdx.x; c < D; c += blockDim.x)
    {
        float t = ld(x, dt, base + c) * r;
        if (w) t *= ld(w, wdt, c);
        st(y, dt, base + c, t);
    }
}

// x [B, C, S]; block (b, g) normalises channels [g·C/G, (g+1)·C/G) over all S positions.
extern "C" __global__ void group_norm(void* y, const void* x, int dt, const void* w, int wdt, const void* bias, int bdt,
    i64 C, i64 S, int G, float eps)
{
    __shared__ float sh[32];
    i64 b = blockIdx.x / G, g = blockIdx.x % G;
    i64 cpg = C / G, count = cpg * S;
    i64 base = (b * C + g * cpg) * S;
    float s = 0.f;
    for (i64 i = threadIdx.x; i < count; i += blockDim.x) s += ld(x, dt, base + i);
    float mean = block_sum(s, sh) / (float)count;
    float v = 0.f;
    for (i64 i = threadIdx.x; i < count; i += blockDim.x) { float t = ld(x, dt, base + i) - mean; v += t * t; }
    float rstd = rsqrtf(block_sum(v, sh) / (float)count + eps);
    for (i64 i = threadIdx.x; i < count; i += blockDim.x)
    {
        i64 c = g * cpg + i / S;
        float t = (ld(x, dt, base + i) - mean) * rstd;
        if (w) t *= ld(w, wdt, c);
        if (bias) t += ld(bias, bdt, c);
        st(y, dt, base + i, t);
    }
}

// y and x may differ in dtype: attention by GEMMs (CudaOps.Attention) turns float32 scores into 16-bit probabilities
extern "C" __global__ void softmax_rows(void* y, int ydt, const void* x, int xdt, i64 D)
{
    __shared__ float sh[32];
    const i64 base = (i64)blockIdx.x * D;
    float m = -XDIT_INF;
    for (i64 c = threadIdx.x; c < D; c += blockDim.x) m = fmaxf(m, ld(x, xdt, base + c));
    m = block_max(m, sh);
    float s = 0.f;
    for (i64 c = threadIdx.x; c < D; c += blockDim.x) s += expf(ld(x, xdt, base + c) - m);
    float inv = 1.f / block_sum(s, sh);
    for (i64 c = threadIdx.x; c < D; c += blockDim.x) st(y, ydt, base + c, expf(ld(x, xdt, base + c) - m) * inv);
}
