// What NVRTC declares without any include, for check.sh (clang -nocudainc): attributes, the index variables,
// libdevice math, the bit casts and the shuffles.
#define CUDA_VERSION 12000
#define __host__ __attribute__((host))
#define __device__ __attribute__((device))
#define __global__ __attribute__((global))
#define __shared__ __attribute__((shared))
#define __constant__ __attribute__((constant))
#define __forceinline__ __inline__ __attribute__((always_inline))
#define __launch_bounds__(...) __attribute__((launch_bounds(__VA_ARGS__)))
typedef __SIZE_TYPE__ size_t;
#define INT_MAX __INT_MAX__
#define INT_MIN (-__INT_MAX__ - 1)
#define HUGE_VAL __builtin_huge_val()
#define HUGE_VALF __builtin_huge_valf()
#include <__clang_cuda_builtin_vars.h>
#define __DEVICE__ static __device__ __forceinline__
#include <__clang_cuda_libdevice_declares.h>
#undef __DEVICE__
#include <__clang_cuda_device_functions.h>
#include <__clang_cuda_math.h>
__device__ inline float __shfl_xor_sync(unsigned m, float v, int x, int w = 32) { return __nvvm_shfl_sync_bfly_f32(m, v, x, ((32 - w) << 8) | 0x1f); }
__device__ inline int __shfl_xor_sync(unsigned m, int v, int x, int w = 32) { return __nvvm_shfl_sync_bfly_i32(m, v, x, ((32 - w) << 8) | 0x1f); }
__device__ inline float __shfl_sync(unsigned m, float v, int s, int w = 32) { return __nvvm_shfl_sync_idx_f32(m, v, s, ((32 - w) << 8) | 0x1f); }
__device__ inline int __shfl_sync(unsigned m, int v, int s, int w = 32) { return __nvvm_shfl_sync_idx_i32(m, v, s, ((32 - w) << 8) | 0x1f); }
