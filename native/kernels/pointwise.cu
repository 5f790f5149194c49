// Elementwise ops. Outputs are contiguous; the main input is contiguous unless the kernel takes a Layout.
#include "common.cuh"

// Flat kernels over n contiguous elements walk steps of 8 (VEC): 16-byte accesses when `vec` (every pointer
// 16-byte aligned and float dtypes, checked on the host), else element by element; the last step may be short.
#define FLAT_STEPS(i, n) GRID_STRIDE(i, ((n) + VEC - 1) / VEC)

extern "C" __global__ void activate_kernel(void* y, const void* x, int dt, i64 n, int act, int vec)
{
    FLAT_STEPS(s, n)
    {
        i64 i = s * VEC;
        int count = step_count(n - i);
        float v[VEC];
        ld8v(x, dt, i, v, vec, count);
        for (int k = 0; k < VEC; k++) v[k] = activate(v[k], act);
        st8v(y, dt, i, v, vec, count);
    }
}

// A gated product of a feed-forward's projection x [R, 2F] (contiguous): y [R, F] = value·act(gate), the halves
// read once and the product written once. GEGLU: x[:, :F]·GELU(x[:, F:]) (erf); SwiGLU (Flux 2): SiLU(x[:, :F])·x[:, F:].
// vec (16-byte accesses) only when F is a multiple of 8 (the host checks), so that a step of 8 outputs never crosses
// a row; otherwise element by element.
__device__ __forceinline__ void gated_product(void* y, const void* x, int dt, i64 rows, i64 F, int vec, int act, bool gate_first)
{
    const i64 n = rows * F;
    const i64 value_at = gate_first ? F : 0, gate_at = gate_first ? 0 : F;
    FLAT_STEPS(s, n)
    {
        i64 i = s * VEC;
        int count = step_count(n - i);
        float a[VEC], g[VEC];
        if (vec && count == VEC)
        {
            i64 r = i / F, j = i - r * F;
            ld8v(x, dt, r * 2 * F + value_at + j, a, true);
            ld8v(x, dt, r * 2 * F + gate_at + j, g, true);
        }
        else
            for (int k = 0; k < VEC; k++)
            {
                i64 e = i + (k < count ? k : 0), r = e / F, j = e - r * F;
                a[k] = ld(x, dt, r * 2 * F + value_at + j);
                g[k] = ld(x, dt, r * 2 * F + gate_at + j);
            }
        for (int k = 0; k < VEC; k++) a[k] *= activate(g[k], act);
        st8v(y, dt, i, a, vec, count);
    }
}

extern "C" __global__ void geglu(void* y, const void* x, int dt, i64 rows, i64 F, int vec)
{
    gated_product(y, x, dt, rows, F, vec, 1, false);
}

extern "C" __global__ void swiglu(void* y, const void* x, int dt, i64 rows, i64 F, int vec)
{
    gated_product(y, x, dt, rows, F, vec, 3, true);
}

extern "C" __global__ void scale_shift(void* y, const void* x, int dt, i64 n, float scale, float shift, int vec)
{
    FLAT_STEPS(s, n)
    {
        i64 i = s * VEC;
        int count = step_count(n - i);
        float v[VEC];
        ld8v(x, dt, i, v, vec, count);
        for (int k = 0; k < VEC; k++) v[k] = v[k] * scale + shift;
        st8v(y, dt, i, v, vec, count);
    }
}

// out = a (op) b, out contiguous with a's shape; al, bl have out's shape (bl with 0 strides where b broadcasts).
// op: 0 add, 1 mul. out may alias a when a is contiguous.
extern "C" __global__ void binary_bcast(void* out, int odt, const void* a, Layout al, const void* b, Layout bl, i64 n, int op)
{
    GRID_STRIDE(i, n)
    {
        bool small = n < 0x80000000LL;   // uniform: 32-bit index arithmetic whenever the indices fit
        float x = ld(a, al.dtype, small ? offset_of32(al, (unsigned)i) : offset_of(al, i));
        float y = ld(b, bl.dtype, small ? offset_of32(bl, (unsigned)i) : offset_of(bl, i));
        st(out, odt, i, op == 0 ? x + y : x * y);
    }
}

// Row kernels over x [R, D] (R = B·N rows, contiguous) walk steps of 8 elements of one row; the per-batch vectors
// (shift, scale, gate) are rows of D at b·stride, b = row / N, so a vector may be a strided view of a packed
// modulation (its chunks read in place). Indices are 32-bit: the host checks R·ceil(D/8) < 2^31.
struct RowStep
{
    unsigned row, col, batch;
    int count;   // elements of this step: 8, or fewer at a row's end
};

__device__ __forceinline__ RowStep row_step(unsigned s, unsigned steps, i64 N, i64 D)
{
    RowStep t;
    t.row = s / steps;
    t.col = (s - t.row * steps) * VEC;
    t.batch = t.row / (unsigned)N;
    t.count = min(VEC, (int)(D - t.col));
    return t;
}

#define ROW_STEPS(s, R, D)                                                                                           \
    const unsigned steps_ = (unsigned)(((D) + VEC - 1) / VEC), total_ = (unsigned)(R) * steps_;                      \
    for (unsigned s = blockIdx.x * blockDim.x + threadIdx.x; s < total_; s += blockDim.x * gridDim.x)

// y = x·(1 + scale) + shift
extern "C" __global__ void modulate(void* y, const void* x, int dt, const void* shift, int shdt, i64 shiftStride,
    const void* scale, int scdt, i64 scaleStride, i64 R, i64 N, i64 D, int vec)
{
    ROW_STEPS(s, R, D)
    {
        const RowStep t = row_step(s, steps_, N, D);
        const i64 at = (i64)t.row * D + t.col;
        float v[VEC], sh[VEC], sc[VEC];
        ld8v(x, dt, at, v, vec, t.count);
        ld8v(shift, shdt, t.batch * shiftStride + t.col, sh, vec, t.count);
        ld8v(scale, scdt, t.batch * scaleStride + t.col, sc, vec, t.count);
        for (int k = 0; k < VEC; k++) v[k] = v[k] * (1.f + sc[k]) + sh[k];
        st8v(y, dt, at, v, vec, t.count);
    }
}

// out = x + gate·y, or x + gate·(y + y2) when y2 is given (a projection computed as two GEMMs over the parts of
// a concatenated input); x, y, y2 [R, D] contiguous (dtypes may differ)
extern "C" __global__ void gated_residual(void* out, const void* x, int dt, const void* y, int ydt, const void* y2, int y2dt,
    const void* gate, int gdt, i64 gateStride, i64 R, i64 N, i64 D, int vec)
{
    ROW_STEPS(s, R, D)
    {
        const RowStep t = row_step(s, steps_, N, D);
        const i64 at = (i64)t.row * D + t.col;
        float v[VEC], w[VEC], g[VEC], w2[VEC];
        ld8v(x, dt, at, v, vec, t.count);
        ld8v(y, ydt, at, w, vec, t.count);
        if (y2)
        {
            ld8v(y2, y2dt, at, w2, vec, t.count);
            for (int k = 0; k < VEC; k++) w[k] += w2[k];
        }
        ld8v(gate, gdt, t.batch * gateStride + t.col, g, vec, t.count);
        for (int k = 0; k < VEC; k++) v[k] += g[k] * w[k];
        st8v(out, dt, at, v, vec, t.count);
    }
}

// The operands of a GEMM with the gated residual in its epilogue (CudaOps.LinearGatedResidualInto), one pass over
// the gate: alpha[b, c] = gate[b, c] in float (cuBLASLt's alpha vector is of the scale type) and, when a bias is
// given, gb[b, c] = gate[b, c]·bias[c] in dt (the bias is added after alpha, so it is pre-multiplied). The gate's
// rows are gateStride apart (a chunk of a packed modulation, read in place); alpha and gb are dense [B, D].
extern "C" __global__ void gate_alpha_bias(void* alpha, void* gb, int dt, const void* gate, int gdt, i64 gateStride,
    const void* bias, int bdt, i64 B, i64 D)
{
    GRID_STRIDE(i, B * D)
    {
        i64 b = i / D, c = i % D;
        float g = ld(gate, gdt, b * gateStride + c);
        ((float*)alpha)[i] = g;
        if (gb) st(gb, dt, i, g * ld(bias, bdt, c));
    }
}

// gate_alpha_bias for up to four gated GEMMs of one block in one launch (CudaOps.PrepareGatedEpilogues): the gates
// are chunks of one modulation (one dtype, row stride and width), each with its bias or none (a null pointer, its
// gb rows left unwritten). alpha and gb are dense [n, B, D], group j at j·B·D.
extern "C" __global__ void gate_alpha_bias_n(void* alpha, void* gb, int dt, int gdt, int bdt, i64 gateStride, i64 B, i64 D, int n,
    const void* g0, const void* g1, const void* g2, const void* g3, const void* b0, const void* b1, const void* b2, const void* b3)
{
    GRID_STRIDE(i, n * B * D)
    {
        i64 j = i / (B * D), r = i % (B * D), b = r / D, c = r % D;
        const void* gate = j == 0 ? g0 : j == 1 ? g1 : j == 2 ? g2 : g3;
        const void* bias = j == 0 ? b0 : j == 1 ? b1 : j == 2 ? b2 : b3;
        float g = ld(gate, gdt, b * gateStride + c);
        ((float*)alpha)[i] = g;
        if (bias) st(gb, dt, i, g * ld(bias, bdt, c));
    }
}

// in place: y[b, c, s] += bias[c] + r[b, c, s], or + r[b, c] when !r_plane (a term per batch and channel); bias and
// r each optional (null); y and r contiguous [B, C, S] (r [B, C]): a convolution's bias and residual in one pass
extern "C" __global__ void add_channel_bias(void* y, int dt, const void* bias, int bdt, i64 B, i64 C, i64 S,
    const void* r, int rdt, int r_plane)
{
    GRID_STRIDE(i, B * C * S)
    {
        float v = ld(y, dt, i);
        if (bias) v += ld(bias, bdt, (i / S) % C);
        if (r) v += ld(r, rdt, r_plane ? i : i / S);
        st(y, dt, i, v);
    }
}

// Rotary embedding. x, y [B, N, H, d] contiguous; cos, sin [N, d] contiguous.
// interleaved: pairs (2i, 2i+1); otherwise rotate-half pairs (i, i + d/2).
extern "C" __global__ void rope(void* y, const void* x, int dt, const void* cosT, const void* sinT, int tdt,
    i64 B, i64 N, i64 H, i64 d, int interleaved)
{
    GRID_STRIDE(i, B * N * H * d)
    {
        i64 c = i % d;
        i64 n = (i / (H * d)) % N;
        float xc = ld(x, dt, i);
        float co = ld(cosT, tdt, n * d + c), si = ld(sinT, tdt, n * d + c);
        float r;
        if (interleaved)
            r = (c & 1) ? xc * co + ld(x, dt, i - 1) * si : xc * co - ld(x, dt, i + 1) * si;
        else
        {
            i64 half = d / 2;
            r = (c < half) ? xc * co - ld(x, dt, i + half) * si : xc * co + ld(x, dt, i - half) * si;
        }
        st(y, dt, i, r);
    }
}

// Merges partial attention (o2, lse2) into (o1, lse1) in place. o [B, N, H, d] contiguous; lse [B, H, N] float32.
extern "C" __global__ void merge_attention(void* o1, float* lse1, const void* o2, int o2dt, const float* lse2, int dt,
    i64 B, i64 N, i64 H, i64 d)
{
    GRID_STRIDE(i, B * N * H * d)
    {
        i64 h = (i / d) % H, n = (i / (d * H)) % N, b = i / (d * H * N);
        i64 li = (b * H + h) * N + n;
        float l1 = lse1[li], l2 = lse2[li];
        float m = fmaxf(l1, l2);
        float w1 = 0.f, w2 = 0.f;
        if (m != -XDIT_INF) { w1 = expf(l1 - m); w2 = expf(l2 - m); }
        float s = w1 + w2;
        float v = s > 0.f ? (ld(o1, dt, i) * w1 + ld(o2, o2dt, i) * w2) / s : 0.f;
        st(o1, dt, i, v);
    }
}

extern "C" __global__ void merge_lse(float* lse1, const float* lse2, i64 n)
{
    GRID_STRIDE(i, n)
    {
        float l1 = lse1[i], l2 = lse2[i];
        float m = fmaxf(l1, l2);
        lse1[i] = m == -XDIT_INF ? -XDIT_INF : m + logf(expf(l1 - m) + expf(l2 - m));
    }
}
