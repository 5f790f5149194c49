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

// x [B, C, S]; the thread of position (b, s) normalises x[b, ·, s] over the C channels (RMS, float32), times the
// weight, then act (an Activation, 0 none): Wan's VAE norms over channels-first maps, no transpose either way.
// Consecutive threads take consecutive s, so every channel plane is read coalesced.
extern "C" __global__ void channel_rms_norm(void* y, const void* x, int dt, const void* w, int wdt, i64 C, i64 S, i64 n,
    float eps, int act)
{
    GRID_STRIDE(i, n)
    {
        const i64 base = (i / S) * C * S + i % S;
        float s = 0.f;
        for (i64 c = 0; c < C; c++) { float t = ld(x, dt, base + c * S); s += t * t; }
        float r = rsqrtf(s / (float)C + eps);
        for (i64 c = 0; c < C; c++)
        {
            float t = ld(x, dt, base + c * S) * r;
            if (w) t *= ld(w, wdt, c);
            st(y, dt, base + c * S, act ? activate(t, act) : t);
        }
    }
}

// x [B, C, S]; block (b, g) normalises channels [g·C/G, (g+1)·C/G) over all S positions, then applies act (an
// Activation, 0 none) to what it writes: the ResNets' SiLU(GN(x)) without the norm's round trip through memory.
extern "C" __global__ void group_norm(void* y, const void* x, int dt, const void* w, int wdt, const void* bias, int bdt,
    i64 C, i64 S, int G, float eps, int act)
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
        st(y, dt, base + i, act ? activate(t, act) : t);
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

// ---- register-resident LayerNorm with the AdaLN modulation fused ----
// One block per row; thread t holds the steps t, t + blockDim, ... (at most NORM_STEPS) of 8 values in registers,
// so x is read once and y written once (the reductions above read x three times). The host picks blockDim so
// that ceil(D/8) ≤ NORM_STEPS·blockDim. Statistics in float32, two passes over the registers for a stable
// variance, as layer_norm.
#define NORM_STEPS 4

struct NormRow
{
    float v[NORM_STEPS][VEC];
};

__device__ __forceinline__ int norm_count(int s, i64 D)
{
    i64 c = ((i64)s * blockDim.x + threadIdx.x) * VEC;
    return c >= D ? 0 : step_count(D - c);
}

__device__ __forceinline__ i64 norm_col(int s) { return ((i64)s * blockDim.x + threadIdx.x) * VEC; }

// y = LN(v)·(1 + scale[b]) + shift[b] over the row held in r (LayerNorm without affine); b = row / N.
// shift and scale are rows of D at b·stride (strided views of a packed modulation are read in place).
__device__ __forceinline__ void norm_modulate_store(NormRow& r, void* y, int dt, i64 base, i64 D, float eps,
    const void* shift, int shdt, i64 shStride, const void* scale, int scdt, i64 scStride, i64 b, bool vec, float* sh)
{
    float s = 0.f;
    for (int k = 0; k < NORM_STEPS; k++)
        for (int e = 0; e < VEC; e++) s += r.v[k][e];   // the padding holds zeros
    const float mean = block_sum(s, sh) / (float)D;
    float q = 0.f;
    for (int k = 0; k < NORM_STEPS; k++)
    {
        int n = norm_count(k, D);
        for (int e = 0; e < VEC; e++) if (e < n) { float t = r.v[k][e] - mean; q += t * t; }
    }
    const float rstd = rsqrtf(block_sum(q, sh) / (float)D + eps);
    for (int k = 0; k < NORM_STEPS; k++)
    {
        int n = norm_count(k, D);
        if (n == 0) continue;
        i64 c = norm_col(k);
        float t[VEC], u[VEC];
        ld8v(shift, shdt, b * shStride + c, t, vec, n);
        ld8v(scale, scdt, b * scStride + c, u, vec, n);
        for (int e = 0; e < VEC; e++) r.v[k][e] = (r.v[k][e] - mean) * rstd * (1.f + u[e]) + t[e];
        st8v(y, dt, base + c, r.v[k], vec, n);
    }
}

// y = LN(x)·(1 + scale) + shift: x, y [R, D] contiguous, R = B·N; AdaLayerNormZero's norm and modulation. With x2
// (non-null) the row is the concatenation of x [R, D1] and x2 [R, D − D1], both contiguous, read step by step from
// the one that holds it (D1 a multiple of 8: no step straddles), HunyuanDiT's skip_norm(cat[x, skip]) without the cat.
extern "C" __global__ void layer_norm_modulate(void* y, const void* x, const void* x2, i64 D1, int dt, const void* shift, int shdt,
    i64 shStride, const void* scale, int scdt, i64 scStride, i64 N, i64 D, float eps, int vec)
{
    __shared__ float sh[32];
    const i64 row = blockIdx.x, base = row * D;
    NormRow r;
    for (int k = 0; k < NORM_STEPS; k++)
    {
        const i64 c = norm_col(k);
        const int n = norm_count(k, D);
        if (!x2) ld8v(x, dt, base + c, r.v[k], vec, n);
        else if (c < D1) ld8v(x, dt, row * D1 + c, r.v[k], vec, n);
        else ld8v(x2, dt, row * (D - D1) + (c - D1), r.v[k], vec, n);
    }
    norm_modulate_store(r, y, dt, base, D, eps, shift, shdt, shStride, scale, scdt, scStride, row / N, vec, sh);
}

// Loads the row of x at base into r and returns its rsqrt(mean(x²) + eps), reduced over the block.
__device__ __forceinline__ float rms_row(NormRow& r, const void* x, int dt, i64 base, i64 D, float eps, int vec, float* sh)
{
    float s = 0.f;
    for (int k = 0; k < NORM_STEPS; k++)
    {
        ld8v(x, dt, base + norm_col(k), r.v[k], vec, norm_count(k, D));
        for (int e = 0; e < VEC; e++) s += r.v[k][e] * r.v[k][e];   // the padding holds zeros
    }
    return rsqrtf(block_sum(s, sh) / (float)D + eps);
}

// y = RMSNorm(x)·w·(1 + scale) + shift: x, y [R, D] contiguous, R = B·N, the row held in registers as
// layer_norm_modulate holds it; w [D] (null: none), shift (null: zero) and scale rows of D at b·stride, b = row / N.
// LTX-Video's norm1/norm2 with their AdaLN modulation, Mochi's and Z-Image's scale-only modulated RMSNorms.
extern "C" __global__ void rms_norm_modulate(void* y, const void* x, int dt, const void* w, int wdt, const void* shift, int shdt,
    i64 shStride, const void* scale, int scdt, i64 scStride, i64 N, i64 D, float eps, int vec)
{
    __shared__ float sh[32];
    const i64 row = blockIdx.x, base = row * D, b = row / N;
    NormRow r;
    const float rs = rms_row(r, x, dt, base, D, eps, vec, sh);
    for (int k = 0; k < NORM_STEPS; k++)
    {
        int n = norm_count(k, D);
        if (n == 0) continue;
        i64 c = norm_col(k);
        float t[VEC], u[VEC], g[VEC];
        if (shift) ld8v(shift, shdt, b * shStride + c, t, vec, n);
        else for (int e = 0; e < VEC; e++) t[e] = 0.f;
        ld8v(scale, scdt, b * scStride + c, u, vec, n);
        if (w) ld8v(w, wdt, c, g, vec, n);
        else for (int e = 0; e < VEC; e++) g[e] = 1.f;
        for (int e = 0; e < VEC; e++) r.v[k][e] = r.v[k][e] * rs * g[e] * (1.f + u[e]) + t[e];
        st8v(y, dt, base + c, r.v[k], vec, n);
    }
}

// sum = x + gate·y (gate null: x + y), then out = LN(sum)·(1 + scale) + shift: a block's gated residual and the
// next norm in one pass. x, y, sum, out [R, D] contiguous; y's dtype may differ. The norm reads sum as stored (in
// x's dtype), as the unfused ops would.
extern "C" __global__ void residual_layer_norm_modulate(void* sum, void* out, const void* x, int dt, const void* y, int ydt,
    const void* gate, int gdt, i64 gStride, const void* shift, int shdt, i64 shStride, const void* scale, int scdt, i64 scStride,
    i64 N, i64 D, float eps, int vec)
{
    __shared__ float sh[32];
    const i64 row = blockIdx.x, base = row * D, b = row / N;
    NormRow r;
    for (int k = 0; k < NORM_STEPS; k++)
    {
        int n = norm_count(k, D);
        i64 c = norm_col(k);
        float w[VEC], g[VEC];
        ld8v(x, dt, base + c, r.v[k], vec, n);
        ld8v(y, ydt, base + c, w, vec, n);
        if (gate) ld8v(gate, gdt, b * gStride + c, g, vec, n);
        for (int e = 0; e < VEC; e++) r.v[k][e] += (gate ? g[e] : 1.f) * w[e];
        if (n == 0) continue;
        st8v(sum, dt, base + c, r.v[k], vec, n);
        // the stored (rounded) value is what the norm sees
        if (dt != 0) for (int e = 0; e < VEC; e++) r.v[k][e] = ld_round(r.v[k][e], dt);
    }
    norm_modulate_store(r, out, dt, base, D, eps, shift, shdt, shStride, scale, scdt, scStride, b, vec, sh);
}

// out = x + gate·(RMSNorm(y)·w) (gate null: x + RMSNorm(y)·w): a block's output projection normed, then its gated
// residual, in one pass (Mochi's and Z-Image's norm after the projection). y is held in registers as
// rms_norm_modulate holds x; x, y, out [R, D] contiguous, w [D] (null: none), gate rows of D at b·gStride. The normed
// value is rounded to y's dtype before the sum, as the RMSNorm's output would be.
extern "C" __global__ void rms_norm_gated_residual(void* out, const void* x, int dt, const void* y, int ydt, const void* w, int wdt,
    const void* gate, int gdt, i64 gStride, i64 N, i64 D, float eps, int vec)
{
    __shared__ float sh[32];
    const i64 row = blockIdx.x, base = row * D, b = row / N;
    NormRow r;
    const float rs = rms_row(r, y, ydt, base, D, eps, vec, sh);
    for (int k = 0; k < NORM_STEPS; k++)
    {
        int n = norm_count(k, D);
        if (n == 0) continue;
        i64 c = norm_col(k);
        float v[VEC], g[VEC], u[VEC];
        ld8v(x, dt, base + c, v, vec, n);
        if (gate) ld8v(gate, gdt, b * gStride + c, g, vec, n);
        if (w) ld8v(w, wdt, c, u, vec, n);
        for (int e = 0; e < VEC; e++) v[e] += (gate ? g[e] : 1.f) * ld_round(r.v[k][e] * rs * (w ? u[e] : 1.f), ydt);
        st8v(out, dt, base + c, v, vec, n);
    }
}

// ---- per-head RMSNorm or LayerNorm and rotary embedding in one pass (Flux's and HunyuanDiT's q/k) ----
// x, y [B, N, H, d] views with a dense d axis and strides (b, n, h) each; y may be x (in place: a warp reads its
// whole row before writing it). One warp per (b, n, h) row; lane l holds the rotation pairs p = l, l + 32, ... of
// the row, pair p being elements (2p, 2p + 1) when interleaved (Flux, HunyuanDiT), else (p, p + d/2) (rotate-half),
// so each lane rotates what it holds. y = rotate(norm(x)) with cos, sin [N, d] of the token, where norm is
// x·rsqrt(mean(x²) + eps)·w (RMSNorm) or, with center, (x − mean)·rsqrt(var + eps)·w + bias (LayerNorm, biased
// variance from the registers in a second pass); with null tables (cosT = 0) the norm alone, no rotation (SD3.5's
// and HunyuanDiT's cross-attention keys' qk-norm written back in place). Weight and bias are rows of d, one for every
// rowHeads heads (head h reads row h / rowHeads): HunyuanDiT's q and k, adjacent heads of a packed QKV, in one launch.
#define ROPE_PAIRS 8   // d ≤ 2·32·ROPE_PAIRS = 512

// One normalised pair (u, v) of a head: rounded to the activation dtype first (as the norm's output would be before
// a separate rotation op), then rotated by the table entries at ta and tb (null cos: stored as is), stored at yo + ia
// and yo + ib. The per-head and the across-heads norms end alike.
__device__ __forceinline__ void store_rotated_pair(void* y, int dt, i64 yo, i64 ia, i64 ib, float u, float v,
    const void* cosT, const void* sinT, int tdt, i64 ta, i64 tb)
{
    u = ld_round(u, dt);
    v = ld_round(v, dt);
    if (!cosT)
    {
        st(y, dt, yo + ia, u);
        st(y, dt, yo + ib, v);
        return;
    }
    st(y, dt, yo + ia, u * ld(cosT, tdt, ta) - v * ld(sinT, tdt, ta));
    st(y, dt, yo + ib, v * ld(cosT, tdt, tb) + u * ld(sinT, tdt, tb));
}

__device__ __forceinline__ void head_norm_rope(void* y, i64 ysb, i64 ysn, i64 ysh, const void* x, i64 xsb, i64 xsn, i64 xsh,
    int dt, const void* w, int wdt, const void* bias, int bdt, bool center, const void* cosT, const void* sinT, int tdt,
    i64 R, i64 N, i64 H, i64 d, float eps, int interleaved, i64 rowHeads)
{
    const unsigned lane = threadIdx.x & 31, warps = blockDim.x >> 5;
    const i64 row = (i64)blockIdx.x * warps + (threadIdx.x >> 5);
    if (row >= R) return;   // uniform across the warp: the shuffles below see all 32 lanes
    // one 32-bit division chain per row (the host checks R < 2^31)
    const unsigned h = (unsigned)row % (unsigned)H, bn = (unsigned)row / (unsigned)H, n = bn % (unsigned)N, b = bn / (unsigned)N;
    const i64 half = d / 2;
    const i64 xo = b * xsb + n * xsn + h * xsh, yo = b * ysb + n * ysn + h * ysh, wo = (i64)(h / (unsigned)rowHeads) * d;
    float a[ROPE_PAIRS], c[ROPE_PAIRS];
    float s = 0.f;
    for (int k = 0; k < ROPE_PAIRS; k++)
    {
        i64 p = lane + 32 * k;
        a[k] = c[k] = 0.f;
        if (p >= half) continue;
        i64 ia = interleaved ? 2 * p : p, ib = interleaved ? 2 * p + 1 : p + half;
        a[k] = ld(x, dt, xo + ia);
        c[k] = ld(x, dt, xo + ib);
        s += center ? a[k] + c[k] : a[k] * a[k] + c[k] * c[k];
    }
    float mean = 0.f, r;
    if (center)
    {
        mean = warp_sum(s) / (float)d;
        float q = 0.f;
        for (int k = 0; k < ROPE_PAIRS; k++)
        {
            if (lane + 32 * k >= half) continue;
            float u = a[k] - mean, v = c[k] - mean;
            q += u * u + v * v;
        }
        r = rsqrtf(warp_sum(q) / (float)d + eps);
    }
    else r = rsqrtf(warp_sum(s) / (float)d + eps);
    for (int k = 0; k < ROPE_PAIRS; k++)
    {
        i64 p = lane + 32 * k;
        if (p >= half) continue;
        i64 ia = interleaved ? 2 * p : p, ib = interleaved ? 2 * p + 1 : p + half;
        float u = (a[k] - mean) * r * (w ? ld(w, wdt, wo + ia) : 1.f), v = (c[k] - mean) * r * (w ? ld(w, wdt, wo + ib) : 1.f);
        if (bias)
        {
            u += ld(bias, bdt, wo + ia);
            v += ld(bias, bdt, wo + ib);
        }
        store_rotated_pair(y, dt, yo, ia, ib, u, v, cosT, sinT, tdt, (i64)n * d + ia, (i64)n * d + ib);
    }
}

extern "C" __global__ void rms_norm_rope(void* y, i64 ysb, i64 ysn, i64 ysh, const void* x, i64 xsb, i64 xsn, i64 xsh, int dt,
    const void* w, int wdt, const void* cosT, const void* sinT, int tdt, i64 R, i64 N, i64 H, i64 d, float eps, int interleaved)
{
    head_norm_rope(y, ysb, ysn, ysh, x, xsb, xsn, xsh, dt, w, wdt, 0, 0, false, cosT, sinT, tdt, R, N, H, d, eps, interleaved, H);
}

// RMSNorm over a token's whole row of H heads × d (qk_norm "rms_norm_across_heads": Wan, LTX-Video), weight [H·d]
// optional, then each head's rotation by the token's table row (cos, sin [N, d]; null cos: no rotation). x and y
// [B, N, H, d] with dense heads (a row is H·d contiguous values at b·sb + n·sn), y may be x: every read of the row
// is done before block_sum's barrier, and in the second pass each thread writes only the pair it read. One block a
// token row.
extern "C" __global__ void row_rms_norm_rope(void* y, i64 ysb, i64 ysn, const void* x, i64 xsb, i64 xsn, int dt,
    const void* w, int wdt, const void* cosT, const void* sinT, int tdt, i64 N, i64 H, i64 d, float eps, int interleaved)
{
    __shared__ float sh[32];
    const i64 row = blockIdx.x, n = row % N, b = row / N;
    const i64 xo = b * xsb + n * xsn, yo = b * ysb + n * ysn, D = H * d, half = d / 2, pairs = D / 2;
    float s = 0.f;
    for (i64 c = threadIdx.x; c < D; c += blockDim.x) { float t = ld(x, dt, xo + c); s += t * t; }
    const float r = rsqrtf(block_sum(s, sh) / (float)D + eps);
    for (i64 p = threadIdx.x; p < pairs; p += blockDim.x)
    {
        const i64 h = p / half, q = p % half;
        const i64 ta = interleaved ? 2 * q : q, tb = interleaved ? 2 * q + 1 : q + half;   // within the head
        const i64 ia = h * d + ta, ib = h * d + tb;                                         // within the row
        float u = ld(x, dt, xo + ia) * r, v = ld(x, dt, xo + ib) * r;
        if (w)
        {
            u *= ld(w, wdt, ia);
            v *= ld(w, wdt, ib);
        }
        store_rotated_pair(y, dt, yo, ia, ib, u, v, cosT, sinT, tdt, n * d + ta, n * d + tb);
    }
}

// LayerNorm with affine (weight and bias optional, rows of d for groups of rowHeads heads) per head, then the
// rotation: HunyuanDiT's q/k norm and RoPE
extern "C" __global__ void layer_norm_rope(void* y, i64 ysb, i64 ysn, i64 ysh, const void* x, i64 xsb, i64 xsn, i64 xsh, int dt,
    const void* w, int wdt, const void* bias, int bdt, const void* cosT, const void* sinT, int tdt, i64 R, i64 N, i64 H, i64 d,
    float eps, int interleaved, i64 rowHeads)
{
    head_norm_rope(y, ysb, ysn, ysh, x, xsb, xsn, xsh, dt, w, wdt, bias, bdt, true, cosT, sinT, tdt, R, N, H, d, eps, interleaved, rowHeads);
}
