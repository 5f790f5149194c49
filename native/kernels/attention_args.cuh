// The arguments of both attention kernels (attention.cu, attention_tc.cuh), passed by value.
//
// Layouts: q [B, Nq, H, d] and k, v [B, Nk, H, d] with any strides for (b, n, h) and unit stride on d;
// o [B, Nq, H, d] contiguous; lse [B, H, Nq] float32 contiguous. Scores are scale·q·k + keyBias[b, j] +
// bias[b, h, i, j] (b stride 0 when the bias has one batch); causal hides j > i, a window w >= 0
// hides |i - j| > w. A row with every key at −∞
// yields zeros and lse −∞.
#pragma once
#include "common.cuh"

// Matches XDit.Kernels.Cuda.AttentionArgs field by field (248 bytes).
struct AttnArgs
{
    const void* q;
    const void* k;
    const void* v;
    void* o;
    float* lse;
    const void* keyBias;
    const void* bias;
    i64 qs[3], ks[3], vs[3], os[3];   // strides of (b, n, h)
    i64 kbs[2];                       // key bias strides (b, j)
    i64 bs[4];                        // bias strides (b, h, i, j)
    int B, Nq, Nk, H, d, dtype, kbDtype, biasDtype, causal, hasLse;
    float scale;
    int window;                       // key j is hidden from query i when |i - j| > window; -1: no window
};
