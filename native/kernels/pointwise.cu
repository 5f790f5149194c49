// Elementwise ops. Outputs are contiguous; the main input is contiguous unless the kernel takes a Layout.
#include "common.cuh"

extern "C" __global__ void activate_kernel(void* y, const void* x, int dt, i64 n, int act)
{
    GRID_STRIDE(i, n) st(y, dt, i, activate(ld(x, dt, i), act));
}

extern "C" __global__ void scale_shift(void* y, const void* x, int dt, i64 n, float scale, float shift)
{
    GRID_STRIDE(i, n) st(y, dt, i, ld(x, dt, i) * scale + shift);
}

// out = a (op) b, out contiguous with a's shape; al, bl have out's shape (bl with 0 strides where b broadcasts).
// op: 0 add, 1 mul. out may alias a when a is contiguous.
extern "C" __global__ void binary_bcast(void* out, int odt, const void* a, Layout al, const void* b, Layout bl, i64 n, int op)
{
    GRID_STRIDE(i, n)
    {
        float x = ld(a, al.dtype, offset_of(al, i));
        float y = ld(b, bl.dtype, offset_of(bl, i));
        st(out, odt, i, op == 0 ? x + y : x * y);
    }
}

// y = x·(1 + scale) + shift; x [B, N, D] contiguous; shift, scale rows of D at b·batchStride (0 when [D]).
extern "C" __global__ void modulate(void* y, const void* x, int dt, const void* shift, int shdt, i64 shiftStride,
    const void* scale, int scdt, i64 scaleStride, i64 B, i64 N, i64 D)
{
    GRID_STRIDE(i, B * N * D)
    {
        i64 c = i % D, b = i / (N * D);
        float s = ld(scale, scdt, b * scaleStride + c);
        float t = ld(shift, shdt, b * shiftStride + c);
        st(y, dt, i, ld(x, dt, i) * (1.f + s) + t);
    }
}

// out = x + gate·y; x, y [B, N, D] contiguous (dtypes may differ), gate rows of D at b·gateStride.
extern "C" __global__ void gated_residual(void* out, const void* x, int dt, const void* y, int ydt,
    const void* gate, int gdt, i64 gateStride, i64 B, i64 N, i64 D)
{
    GRID_STRIDE(i, B * N * D)
    {
        i64 c = i % D, b = i / (N * D);
        st(out, dt, i, ld(x, dt, i) + ld(gate, gdt, b * gateStride + c) * ld(y, ydt, i));
    }
}

// in place: y[b, c, s] += bias[c]; y contiguous [B, C, S]
extern "C" __global__ void add_channel_bias(void* y, int dt, const void* bias, int bdt, i64 B, i64 C, i64 S)
{
    GRID_STRIDE(i, B * C * S)
    {
        i64 c = (i / S) % C;
        st(y, dt, i, ld(y, dt, i) + ld(bias, bdt, c));
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
