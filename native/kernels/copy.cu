// Strided copy with dtype conversion: Copy, Contiguous, Cast, Concat, Patchify/Unpatchify and Upsample2x are all
// this one kernel over views (a stride of 0 repeats an element, which is how Upsample2x broadcasts).
#include "common.cuh"

extern "C" __global__ void copy_strided(void* dst, Layout dl, const void* src, Layout sl, i64 n)
{
    GRID_STRIDE(i, n)
    {
        if (dl.dtype == sl.dtype) copy_elem(dst, offset_of(dl, i), src, offset_of(sl, i), dl.dtype);
        else st(dst, dl.dtype, offset_of(dl, i), ld(src, sl.dtype, offset_of(sl, i)));
    }
}

// out = in (both contiguous), dtype converted
extern "C" __global__ void convert(void* dst, int ddt, const void* src, int sdt, i64 n)
{
    GRID_STRIDE(i, n) st(dst, ddt, i, ld(src, sdt, i));
}

// out[r, c] = table[ids[r], c]; ids are int64, checked on the host
extern "C" __global__ void embedding_gather(void* out, int odt, const void* table, int tdt, const long long* ids, i64 rows, i64 dim)
{
    GRID_STRIDE(i, rows * dim)
    {
        i64 r = i / dim, c = i % dim;
        st(out, odt, i, ld(table, tdt, ids[r] * dim + c));
    }
}

// The columns of a convolution as a GEMM (CudaOps.Conv2d without cuDNN): cols[t, k] for the output pixels
// s = s0 + t, t < count, of one image x [C, H, W] (contiguous), with k = (c, i, j) in the order of a [O, C, kh, kw]
// weight flattened, holding the input pixel (oy·stride − pad + i, ox·stride − pad + j) of s = oy·ow + ox, or zero
// outside the image. Bit-exact: cols has x's dtype.
extern "C" __global__ void im2col(void* cols, const void* x, int dt, i64 C, i64 H, i64 W, int kh, int kw, int stride, int pad,
    i64 ow, i64 s0, i64 count)
{
    const i64 taps = (i64)kh * kw, K = C * taps;
    GRID_STRIDE(e, count * K)
    {
        const i64 s = s0 + e / K, k = e % K, c = k / taps, i = (k % taps) / kw, j = k % kw;
        const i64 iy = (s / ow) * stride - pad + i, ix = (s % ow) * stride - pad + j;
        if (iy >= 0 && iy < H && ix >= 0 && ix < W) copy_elem(cols, e, x, (c * H + iy) * W + ix, dt);
        else st(cols, dt, e, 0.f);
    }
}
