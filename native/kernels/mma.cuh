// Warp-level tensor-core helpers (sm_80 and later): the m16n8k16 product, ldmatrix and float -> 16-bit packing.
//
// mma16816<BF16>(d, a, b) computes D = A·B + D for a 16x16 A (row-major), a 16x8 B (column-major) and 16x8 float32
// accumulators, A and B in bf16 (BF16 = true) or f16, two values to a 32-bit register with the lower index in the
// low half. Who holds what (PTX ISA, "Matrix Fragments for mma.m16n8k16"), with g = lane / 4 and t = lane % 4:
//   A register r (0..3): row g + 8 * (r & 1),  columns 2t + 8 * (r >> 1) + {0, 1}
//   B register r (0..1): rows 2t + 8 * r + {0, 1},  column g
//   D element i (0..3):  row g + 8 * (i >> 1),  column 2t + (i & 1)
// so the accumulators of two n8 tiles side by side are, packed, one A operand: what FlashAttention's P·V uses.
// Under XDIT_HOST_EMU (native/emu) both are computed on the CPU from the same definitions.
#pragma once
#include "common.cuh"

template <bool BF16>
__device__ __forceinline__ void mma16816(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2])
{
#ifdef XDIT_HOST_EMU
    xdit_emu::mma_m16n8k16(d, a, b, BF16);
#else
    // not volatile: the product touches registers only, so the compiler may schedule it among the loads
    if (BF16)
        asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    else
        asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}

// Four 8x8 matrices of 16-bit values from shared memory, each register of each lane holding what an mma operand
// wants (PTX ISA, "ldmatrix"). Lane l passes the address of row l % 8 of matrix l / 8 (16 bytes, 16-byte aligned),
// as a smem_addr (common.cuh).
// Register i receives, of matrix i, row l / 4, columns 2(l % 4) and 2(l % 4) + 1; with TRANS the matrix is read
// transposed: rows 2(l % 4) and 2(l % 4) + 1 of column l / 4. So a row-major [n][k] tile gives B operands of
// Q·Kᵀ untransposed, and a row-major [k][n] tile (V) gives those of P·V transposed.
template <bool TRANS>
__device__ __forceinline__ void ldmatrix_x4(unsigned (&r)[4], smem_addr row)
{
#ifdef XDIT_HOST_EMU
    xdit_emu::ldmatrix_x4(r, row, TRANS);
#else
    if (TRANS)
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(row));
    else
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(row));
#endif
}

// Two floats rounded to nearest-even bf16 (BF16 = true) or f16 and packed, lo in the low half.
template <bool BF16>
__device__ __forceinline__ unsigned pack_f32x2(float lo, float hi)
{
#ifdef XDIT_HOST_EMU
    return BF16 ? (unsigned)f_to_bf16(lo) | ((unsigned)f_to_bf16(hi) << 16)
                : (unsigned)f_to_f16(lo) | ((unsigned)f_to_f16(hi) << 16);
#else
    unsigned r;
    // cvt's first source goes to the upper half
    if (BF16) asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    else asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
#endif
}
