// Shared helpers for every XDit kernel. Self-contained on purpose: NVRTC has no cuda_fp16.h / cuda_bf16.h of its
// own, so half and bfloat16 are handled as raw 16-bit patterns here. Dtype codes equal XDit.Runtime.DType:
// F32 0, F16 1, BF16 2, I64 3, I32 4, U8 5. Kernels read and write through ld/st with a runtime dtype code (the
// switch is uniform across a warp), so one kernel serves every dtype; all arithmetic is float32.
// The few lines of inline PTX have an XDIT_HOST_EMU twin, for the tests that run these sources on the CPU
// (native/emu).
#pragma once

typedef unsigned short u16;
typedef long long i64;

#define XDIT_INF __int_as_float(0x7f800000)

// The block's dynamic shared memory as T* name, 16-byte aligned (declared as 16-byte units, so that vector
// accesses are well aligned whatever T is; one declaration serves every kernel of a file).
struct alignas(16) xdit_smem_unit { unsigned w[4]; };
#ifdef XDIT_HOST_EMU
#define XDIT_DYNAMIC_SMEM(T, name) T* name = (T*)xdit_emu::dynamic_smem()
#else
#define XDIT_DYNAMIC_SMEM(T, name) extern __shared__ xdit_smem_unit xdit_dynamic_smem[]; T* name = (T*)xdit_dynamic_smem
#endif

// A shared-memory address for the inline-PTX helpers (ldmatrix, cp.async): on the device the 32-bit address in the
// shared window, converted once per buffer so that the constant offsets of unrolled loops fold into the
// instructions' immediates; under XDIT_HOST_EMU the pointer itself. Offsets added to it are in bytes.
#ifdef XDIT_HOST_EMU
typedef char* smem_addr;
__device__ __forceinline__ smem_addr smem_address(void* p) { return (char*)p; }
#else
typedef unsigned smem_addr;
__device__ __forceinline__ smem_addr smem_address(void* p)
{
    unsigned a;
    asm("{ .reg .u64 s; cvta.to.shared.u64 s, %1; cvt.u32.u64 %0, s; }" : "=r"(a) : "l"(p));
    return a;
}
#endif

#define MAX_RANK 8

__device__ __forceinline__ float bf16_to_f(u16 h) { return __uint_as_float(((unsigned)h) << 16); }

// round to nearest even; NaN stays NaN
__device__ __forceinline__ u16 f_to_bf16(float f)
{
    unsigned u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (u16)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (u16)(u >> 16);
}

__device__ __forceinline__ float f16_to_f(u16 h)
{
#ifdef XDIT_HOST_EMU
    return xdit_emu::f16_to_f32(h);
#else
    float f;
    asm("{ cvt.f32.f16 %0, %1; }" : "=f"(f) : "h"(h));
    return f;
#endif
}

__device__ __forceinline__ u16 f_to_f16(float f)
{
#ifdef XDIT_HOST_EMU
    return xdit_emu::f32_to_f16(f);
#else
    u16 h;
    asm("{ cvt.rn.f16.f32 %0, %1; }" : "=h"(h) : "f"(f));
    return h;
#endif
}

__device__ __forceinline__ float ld(const void* p, int dt, i64 i)
{
    switch (dt)
    {
        case 0: return ((const float*)p)[i];
        case 1: return f16_to_f(((const u16*)p)[i]);
        case 2: return bf16_to_f(((const u16*)p)[i]);
        case 3: return (float)((const long long*)p)[i];
        case 4: return (float)((const int*)p)[i];
        default: return (float)((const unsigned char*)p)[i];
    }
}

__device__ __forceinline__ void st(void* p, int dt, i64 i, float v)
{
    switch (dt)
    {
        case 0: ((float*)p)[i] = v; break;
        case 1: ((u16*)p)[i] = f_to_f16(v); break;
        case 2: ((u16*)p)[i] = f_to_bf16(v); break;
        case 3: ((long long*)p)[i] = (long long)v; break;
        case 4: ((int*)p)[i] = (int)v; break;
        default: ((unsigned char*)p)[i] = (unsigned char)v; break;
    }
}

// v rounded to dtype dt and back (what storing and reloading it gives)
__device__ __forceinline__ float ld_round(float v, int dt)
{
    switch (dt)
    {
        case 1: return f16_to_f(f_to_f16(v));
        case 2: return bf16_to_f(f_to_bf16(v));
        default: return v;
    }
}

// Copies element si of src to element di of dst bit for bit (both of dtype dt). Same-dtype copies go through this
// rather than ld/st: a float round trip would round int64/int32 values above 2^24.
__device__ __forceinline__ void copy_elem(void* dst, i64 di, const void* src, i64 si, int dt)
{
    switch (dt)
    {
        case 0: case 4: ((unsigned*)dst)[di] = ((const unsigned*)src)[si]; break;
        case 1: case 2: ((u16*)dst)[di] = ((const u16*)src)[si]; break;
        case 3: ((long long*)dst)[di] = ((const long long*)src)[si]; break;
        default: ((unsigned char*)dst)[di] = ((const unsigned char*)src)[si]; break;
    }
}

// A strided view: matches XDit.Kernels.Cuda.KernelLayout (C# side) field by field, 144 bytes.
struct Layout
{
    int rank;
    int dtype;
    i64 offset;          // elements, added to every index
    i64 shape[MAX_RANK];
    i64 strides[MAX_RANK];
};

// element offset of the linear (row-major) index `linear` in view L
__device__ __forceinline__ i64 offset_of(const Layout& L, i64 linear)
{
    i64 off = L.offset;
    for (int d = L.rank - 1; d >= 0; --d)
    {
        i64 s = L.shape[d];
        i64 i = linear % s;
        linear /= s;
        off += i * L.strides[d];
    }
    return off;
}

// element offset of `linear` in view L when the view has fewer than 2^31 elements (the host checks): 32-bit
// divisions, several times cheaper than the 64-bit ones of offset_of.
__device__ __forceinline__ i64 offset_of32(const Layout& L, unsigned linear)
{
    i64 off = L.offset;
    for (int d = L.rank - 1; d >= 0; --d)
    {
        unsigned s = (unsigned)L.shape[d];
        unsigned q = linear / s;
        off += (i64)(linear - q * s) * L.strides[d];
        linear = q;
    }
    return off;
}

// ---- 16-byte vector access ----
// The bandwidth-bound kernels move 8 elements a step: one 16-byte load or store for F16/BF16, two for F32. A step at
// element i needs the address of element i 16-byte aligned: the host checks the base pointers, and every step index
// is a multiple of 8 in a row whose length and strides are multiples of 8 (KernelVector in C#). Float dtypes only.
struct alignas(16) vec16 { unsigned w[4]; };

#define VEC 8

__device__ __forceinline__ void ld8(const void* p, int dt, i64 i, float (&v)[VEC])
{
    if (dt == 0)
    {
        const vec16* q = (const vec16*)((const float*)p + i);
        vec16 a = q[0], b = q[1];
        for (int k = 0; k < 4; k++) { v[k] = __uint_as_float(a.w[k]); v[k + 4] = __uint_as_float(b.w[k]); }
        return;
    }
    vec16 a = *(const vec16*)((const u16*)p + i);
    for (int k = 0; k < 8; k++)
    {
        u16 h = (u16)(a.w[k >> 1] >> ((k & 1) * 16));
        v[k] = dt == 1 ? f16_to_f(h) : bf16_to_f(h);
    }
}

__device__ __forceinline__ void st8(void* p, int dt, i64 i, const float (&v)[VEC])
{
    if (dt == 0)
    {
        vec16 a, b;
        for (int k = 0; k < 4; k++) { a.w[k] = __float_as_uint(v[k]); b.w[k] = __float_as_uint(v[k + 4]); }
        vec16* q = (vec16*)((float*)p + i);
        q[0] = a; q[1] = b;
        return;
    }
    vec16 a;
    for (int k = 0; k < 4; k++)
    {
        unsigned lo = dt == 1 ? f_to_f16(v[2 * k]) : f_to_bf16(v[2 * k]);
        unsigned hi = dt == 1 ? f_to_f16(v[2 * k + 1]) : f_to_bf16(v[2 * k + 1]);
        a.w[k] = lo | (hi << 16);
    }
    *(vec16*)((u16*)p + i) = a;
}

// elements in a step with `rest` elements left: 8, or fewer at the end
__device__ __forceinline__ int step_count(i64 rest) { return rest < VEC ? (int)rest : VEC; }

// 8 elements from i, vectorised when `vec`, else one by one (a row tail, an unaligned or non-float tensor)
__device__ __forceinline__ void ld8v(const void* p, int dt, i64 i, float (&v)[VEC], bool vec, int count = VEC)
{
    if (vec && count == VEC) { ld8(p, dt, i, v); return; }
    for (int k = 0; k < VEC; k++) v[k] = k < count ? ld(p, dt, i + k) : 0.f;
}

__device__ __forceinline__ void st8v(void* p, int dt, i64 i, const float (&v)[VEC], bool vec, int count = VEC)
{
    if (vec && count == VEC) { st8(p, dt, i, v); return; }
    for (int k = 0; k < count; k++) st(p, dt, i + k, v[k]);
}

__device__ __forceinline__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// sum over the block; every thread gets the result. `sh` holds >= 32 floats.
__device__ __forceinline__ float block_sum(float v, float* sh)
{
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) sh[w] = v;
    __syncthreads();
    v = (threadIdx.x < nw) ? sh[threadIdx.x] : 0.f;
    if (w == 0) v = warp_sum(v);
    if (threadIdx.x == 0) sh[0] = v;
    __syncthreads();
    return sh[0];
}

__device__ __forceinline__ float block_max(float v, float* sh)
{
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) sh[w] = v;
    __syncthreads();
    v = (threadIdx.x < nw) ? sh[threadIdx.x] : -XDIT_INF;
    if (w == 0) v = warp_max(v);
    if (threadIdx.x == 0) sh[0] = v;
    __syncthreads();
    return sh[0];
}

// Activation codes equal XDit.Kernels.Activation: None 0, Gelu (erf) 1, GeluTanh 2, Silu 3, QuickGelu 4, Relu 5, Tanh 6.
__device__ __forceinline__ float activate(float x, int act)
{
    switch (act)
    {
        case 1: return 0.5f * x * (1.f + erff(x * 0.70710678118654752f));
        case 2: return 0.5f * x * (1.f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
        case 3: return x / (1.f + expf(-x));
        case 4: return x / (1.f + expf(-1.702f * x));
        case 5: return fmaxf(x, 0.f);
        case 6: return tanhf(x);
        default: return x;
    }
}

#define GRID_STRIDE(i, n) for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (i64)blockDim.x * gridDim.x)
