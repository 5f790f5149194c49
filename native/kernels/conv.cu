// Grouped 2-D convolution, stride 1, zero padding (IOps.GroupedConv2d): depth-wise 3×3/5×5 (SANA's and DC-AE's
// GLUMBConv, DC-AE's multiscale projections) and grouped 1×1. One thread per output element; each reads the
// C/groups·kh·kw taps of its group directly (depth-wise has one input channel, so there is no reuse for an
// im2col + GEMM to win). Accumulates in float32. x is read through its strides (xs_b, xs_c, xs_h, xs_w), so a
// permuted view (SANA's tokens [B, N, C] seen as [B, C, H, W]) needs no copy first.
#include "common.cuh"

extern "C" __global__ void grouped_conv2d(void* y, const void* x, int dt, i64 xs_b, i64 xs_c, i64 xs_h, i64 xs_w,
    const void* w, int wdt, const void* bias, int bdt,
    i64 C, i64 H, i64 W, i64 O, int cg, int kh, int kw, int pad, i64 ho, i64 wo, i64 count)
{
    const i64 og = O / (C / cg);   // output channels per group
    GRID_STRIDE(e, count)
    {
        const i64 ox = e % wo, oy = (e / wo) % ho, o = (e / (wo * ho)) % O, b = e / (wo * ho * O);
        const i64 c0 = (o / og) * cg;
        float acc = bias ? ld(bias, bdt, o) : 0.f;
        for (int ci = 0; ci < cg; ci++)
        {
            const i64 plane = b * xs_b + (c0 + ci) * xs_c;
            for (int ky = 0; ky < kh; ky++)
            {
                const i64 iy = oy - pad + ky;
                if (iy < 0 || iy >= H) continue;
                for (int kx = 0; kx < kw; kx++)
                {
                    const i64 ix = ox - pad + kx;
                    if (ix < 0 || ix >= W) continue;
                    acc += ld(w, wdt, ((o * cg + ci) * kh + ky) * kw + kx) * ld(x, dt, plane + iy * xs_h + ix * xs_w);
                }
            }
        }
        st(y, dt, e, acc);
    }
}
