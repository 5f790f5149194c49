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
