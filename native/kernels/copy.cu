// Strided copy with dtype conversion: Copy, Contiguous, Cast, Concat, Patchify/Unpatchify and Upsample2x are all
// this one kernel over views (a stride of 0 repeats an element, which is how Upsample2x broadcasts).
#include "common.cuh"

// The host merges the dimensions that are contiguous in both views first (CudaOps.Copy), so the layouts seen
// here have as few axes as the views allow; a copy whose merged views are rows goes to copy_rows instead.
extern "C" __global__ void copy_strided(void* dst, Layout dl, const void* src, Layout sl, i64 n)
{
    const bool small = n < 0x80000000LL;   // uniform: 32-bit index arithmetic whenever the indices fit
    GRID_STRIDE(i, n)
    {
        i64 di = small ? offset_of32(dl, (unsigned)i) : offset_of(dl, i);
        i64 si = small ? offset_of32(sl, (unsigned)i) : offset_of(sl, i);
        if (dl.dtype == sl.dtype) copy_elem(dst, di, src, si, dl.dtype);
        else st(dst, dl.dtype, di, ld(src, sl.dtype, si));
    }
}

// out = in (both contiguous), dtype converted; 8 elements a step, 16-byte accesses when `vec` (float dtypes,
// both pointers 16-byte aligned)
extern "C" __global__ void convert(void* dst, int ddt, const void* src, int sdt, i64 n, int vec)
{
    GRID_STRIDE(s, (n + VEC - 1) / VEC)
    {
        i64 i = s * VEC;
        int count = step_count(n - i);
        float v[VEC];
        ld8v(src, sdt, i, v, vec, count);
        st8v(dst, ddt, i, v, vec, count);
    }
}

// dst[r, c] = src[r, c] for rows r < R of length D at row strides dstRow and srcRow (elements), dtype converted.
// Same dtype: bytes move in 16-byte units when `vec` (both pointers and row strides in bytes multiples of 16, row
// bytes too), else element by element. Different float dtypes: 8 elements a step, vectorised when `vec` (the host
// checks the alignment of both). Indices are 32-bit: the host checks R·steps < 2^31.
extern "C" __global__ void copy_rows(void* dst, int ddt, i64 dstRow, const void* src, int sdt, i64 srcRow, i64 R, i64 D, int vec)
{
    if (ddt == sdt && vec)
    {
        const int size = ddt == 0 || ddt == 4 ? 4 : ddt == 3 ? 8 : ddt == 5 ? 1 : 2;
        const unsigned units = (unsigned)(D * size / 16);
        const i64 dRow = dstRow * size / 16, sRow = srcRow * size / 16;
        GRID_STRIDE(i, (i64)R * units)
        {
            unsigned r = (unsigned)i / units, u = (unsigned)i - r * units;
            ((vec16*)dst)[r * dRow + u] = ((const vec16*)src)[r * sRow + u];
        }
        return;
    }
    if (ddt == sdt)
    {
        GRID_STRIDE(i, R * D)
        {
            unsigned r = (unsigned)i / (unsigned)D, c = (unsigned)i - r * (unsigned)D;
            copy_elem(dst, r * dstRow + c, src, r * srcRow + c, ddt);
        }
        return;
    }
    const unsigned steps = (unsigned)((D + VEC - 1) / VEC);
    GRID_STRIDE(i, R * steps)
    {
        unsigned r = (unsigned)i / steps, c = ((unsigned)i - r * steps) * VEC;
        int count = min(VEC, (int)(D - c));
        float v[VEC];
        ld8v(src, sdt, r * srcRow + c, v, vec, count);
        st8v(dst, ddt, r * dstRow + c, v, vec, count);
    }
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

// Nearest-neighbour resize (PyTorch's F.interpolate mode="nearest" with a size): y [B, C, OH, OW] contiguous; output
// pixel (oy, ox) copies x's (min(floor(oy·sh), H − 1), min(floor(ox·sw), W − 1)), sh = H/OH and sw = W/OW computed in
// float32 on the host as PyTorch does, the product in float32 too. x is read through its strides (xs_*); bit-exact.
extern "C" __global__ void upsample_nearest(void* y, const void* x, int dt, i64 xs_b, i64 xs_c, i64 xs_h, i64 xs_w,
    i64 C, i64 H, i64 W, i64 OH, i64 OW, float sh, float sw, i64 count)
{
    GRID_STRIDE(e, count)
    {
        const i64 ox = e % OW, oy = (e / OW) % OH, c = (e / (OW * OH)) % C, b = e / (OW * OH * C);
        const i64 iy = min((i64)floorf((float)oy * sh), H - 1), ix = min((i64)floorf((float)ox * sw), W - 1);
        copy_elem(y, e, x, b * xs_b + c * xs_c + iy * xs_h + ix * xs_w, dt);
    }
}
