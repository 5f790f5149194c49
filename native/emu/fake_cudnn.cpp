// A CPU stand-in for cuDNN 9 (libcudnn.so.9): the legacy forward-convolution subset that
// src/Kernels/Cuda/CudnnConvolution.cs binds, for the tests that run CudaOps on the CPU through
// XDIT_CUDA_LIBRARY_DIR. NCHW tensors and KCRS filters of one dtype (float, half, bfloat16), cross-correlation
// with padding, stride and dilation, y = alpha·conv(x, w) + beta·y accumulated in double and rounded once to
// y's dtype. It offers IMPLICIT_GEMM (0) and FFT (4), so the host's rule of skipping FFT for float32 runs is
// exercised, and needs no workspace. Shapes that do not fit (y not the convolution's output shape, channel
// counts that differ) are refused with CUDNN_STATUS_BAD_PARAM, as cuDNN does.
#include "cuda_emu.h"
#include "common.cuh"

#include <cstdint>
#include <cstdio>
#include <vector>

namespace
{
    enum : int
    {
        CUDNN_STATUS_SUCCESS = 0,
        CUDNN_STATUS_NOT_INITIALIZED = 1001,
        CUDNN_STATUS_BAD_PARAM = 2000,
        CUDNN_STATUS_NOT_SUPPORTED = 3000,
    };
    enum : int { Float = 0, Half = 2, BFloat16 = 9 };
    enum : int { AlgoImplicitGemm = 0, AlgoFft = 4 };

    thread_local char lastError[256] = "";

    int fail(int status, const char* what)
    {
        std::snprintf(lastError, sizeof lastError, "%s", what);
        return status;
    }

    struct Tensor4d
    {
        int dtype = -1, n = 0, c = 0, h = 0, w = 0;
    };

    struct Convolution
    {
        int padH = 0, padW = 0, strideH = 1, strideW = 1, dilationH = 1, dilationW = 1, mode = 1, computeType = Float, math = 0;
        bool set = false;
    };

    bool knownType(int t) { return t == Float || t == Half || t == BFloat16; }

    float load(const void* p, int t, std::int64_t i)
    {
        switch (t)
        {
            case Float: return ((const float*)p)[i];
            case Half: return xdit_emu::f16_to_f32(((const unsigned short*)p)[i]);
            default: return bf16_to_f(((const unsigned short*)p)[i]);
        }
    }

    void store(void* p, int t, std::int64_t i, float v)
    {
        switch (t)
        {
            case Float: ((float*)p)[i] = v; break;
            case Half: ((unsigned short*)p)[i] = xdit_emu::f32_to_f16(v); break;
            default: ((unsigned short*)p)[i] = f_to_bf16(v); break;
        }
    }

    // Checks that x, w, conv and y describe one convolution; fills the output size.
    int validate(const Tensor4d* x, const Tensor4d* w, const Convolution* c, const Tensor4d* y)
    {
        if (!x || !w || !c || !y) return fail(CUDNN_STATUS_BAD_PARAM, "null descriptor");
        if (x->dtype < 0 || w->dtype < 0 || y->dtype < 0 || !c->set) return fail(CUDNN_STATUS_BAD_PARAM, "descriptor never set");
        if (x->dtype != w->dtype || x->dtype != y->dtype) return fail(CUDNN_STATUS_BAD_PARAM, "x, w and y differ in dtype");
        if (c->mode != 1) return fail(CUDNN_STATUS_NOT_SUPPORTED, "only CUDNN_CROSS_CORRELATION is emulated");
        if (x->c != w->c) return fail(CUDNN_STATUS_BAD_PARAM, "x and w differ in input channels");
        int oh = (x->h + 2 * c->padH - c->dilationH * (w->h - 1) - 1) / c->strideH + 1;
        int ow = (x->w + 2 * c->padW - c->dilationW * (w->w - 1) - 1) / c->strideW + 1;
        if (y->n != x->n || y->c != w->n || y->h != oh || y->w != ow) return fail(CUDNN_STATUS_BAD_PARAM, "y is not the convolution's output shape");
        return CUDNN_STATUS_SUCCESS;
    }

    char handleTag;
}

extern "C"
{
    std::size_t cudnnGetVersion() { return 91400; }

    const char* cudnnGetErrorString(int s)
    {
        switch (s)
        {
            case CUDNN_STATUS_SUCCESS: return "CUDNN_STATUS_SUCCESS";
            case CUDNN_STATUS_NOT_INITIALIZED: return "CUDNN_STATUS_NOT_INITIALIZED";
            case CUDNN_STATUS_BAD_PARAM: return "CUDNN_STATUS_BAD_PARAM";
            case CUDNN_STATUS_NOT_SUPPORTED: return "CUDNN_STATUS_NOT_SUPPORTED";
            default: return "CUDNN_STATUS_UNKNOWN";
        }
    }

    void cudnnGetLastErrorString(char* message, std::size_t max)
    {
        if (max == 0) return;
        std::snprintf(message, max, "%s", lastError);
        lastError[0] = 0;
    }

    int cudnnCreate(void** h)
    {
        *h = &handleTag;
        return CUDNN_STATUS_SUCCESS;
    }

    int cudnnDestroy(void* h) { return h == &handleTag ? CUDNN_STATUS_SUCCESS : fail(CUDNN_STATUS_BAD_PARAM, "unknown handle"); }

    int cudnnSetStream(void* h, void*) { return h == &handleTag ? CUDNN_STATUS_SUCCESS : fail(CUDNN_STATUS_BAD_PARAM, "unknown handle"); }

    int cudnnCreateTensorDescriptor(void** d)
    {
        *d = new Tensor4d();
        return CUDNN_STATUS_SUCCESS;
    }

    int cudnnDestroyTensorDescriptor(void* d)
    {
        delete static_cast<Tensor4d*>(d);
        return CUDNN_STATUS_SUCCESS;
    }

    int cudnnSetTensor4dDescriptor(void* d, int format, int dtype, int n, int c, int h, int w)
    {
        if (!d || format != 0 || !knownType(dtype) || n <= 0 || c <= 0 || h <= 0 || w <= 0)
            return fail(CUDNN_STATUS_BAD_PARAM, "cudnnSetTensor4dDescriptor: NCHW, a known dtype and positive sizes only");
        *static_cast<Tensor4d*>(d) = Tensor4d{ dtype, n, c, h, w };
        return CUDNN_STATUS_SUCCESS;
    }

    int cudnnCreateFilterDescriptor(void** d) { return cudnnCreateTensorDescriptor(d); }

    int cudnnDestroyFilterDescriptor(void* d) { return cudnnDestroyTensorDescriptor(d); }

    int cudnnSetFilter4dDescriptor(void* d, int dtype, int format, int k, int c, int h, int w)
    {
        return cudnnSetTensor4dDescriptor(d, format, dtype, k, c, h, w);   // note the argument order: dtype first
    }

    int cudnnCreateConvolutionDescriptor(void** d)
    {
        *d = new Convolution();
        return CUDNN_STATUS_SUCCESS;
    }

    int cudnnDestroyConvolutionDescriptor(void* d)
    {
        delete static_cast<Convolution*>(d);
        return CUDNN_STATUS_SUCCESS;
    }

    int cudnnSetConvolution2dDescriptor(void* d, int padH, int padW, int u, int v, int dilH, int dilW, int mode, int computeType)
    {
        if (!d || padH < 0 || padW < 0 || u <= 0 || v <= 0 || dilH <= 0 || dilW <= 0 || (mode != 0 && mode != 1) || !knownType(computeType))
            return fail(CUDNN_STATUS_BAD_PARAM, "cudnnSetConvolution2dDescriptor: bad padding, stride, dilation, mode or compute type");
        auto* c = static_cast<Convolution*>(d);
        int math = c->math;
        *c = Convolution{ padH, padW, u, v, dilH, dilW, mode, computeType, math, true };
        return CUDNN_STATUS_SUCCESS;
    }

    int cudnnSetConvolutionMathType(void* d, int math)
    {
        if (!d || math < 0 || math > 3) return fail(CUDNN_STATUS_BAD_PARAM, "cudnnSetConvolutionMathType: unknown math type");
        static_cast<Convolution*>(d)->math = math;
        return CUDNN_STATUS_SUCCESS;
    }

    // cudnnConvolutionFwdAlgoPerf_t: { algo, status, float time, size_t memory, determinism, mathType, int reserved[3] }
    struct AlgoPerf
    {
        int algo, status;
        float time;
        std::size_t memory;
        int determinism, mathType, reserved[3];
    };

    int cudnnGetConvolutionForwardAlgorithm_v7(void* h, void* x, void* w, void* conv, void* y, int requested, int* returned, AlgoPerf* perf)
    {
        if (h != &handleTag) return fail(CUDNN_STATUS_BAD_PARAM, "unknown handle");
        if (int r = validate((Tensor4d*)x, (Tensor4d*)w, (Convolution*)conv, (Tensor4d*)y); r != 0) return r;
        if (requested < 1 || !returned || !perf) return fail(CUDNN_STATUS_BAD_PARAM, "requested < 1");
        const int algos[] = { AlgoFft, AlgoImplicitGemm };   // FFT first, as cuDNN may rank it
        int n = 0;
        for (int a : algos)
        {
            if (n == requested) break;
            perf[n] = AlgoPerf{ a, 0, 1.f, 0, 1, static_cast<Convolution*>(conv)->math, { 0, 0, 0 } };
            ++n;
        }
        *returned = n;
        return CUDNN_STATUS_SUCCESS;
    }

    int cudnnGetConvolutionForwardWorkspaceSize(void* h, void* x, void* w, void* conv, void* y, int algo, std::size_t* bytes)
    {
        if (h != &handleTag) return fail(CUDNN_STATUS_BAD_PARAM, "unknown handle");
        if (int r = validate((Tensor4d*)x, (Tensor4d*)w, (Convolution*)conv, (Tensor4d*)y); r != 0) return r;
        if (algo != AlgoImplicitGemm && algo != AlgoFft) return fail(CUDNN_STATUS_NOT_SUPPORTED, "algorithm not emulated");
        *bytes = 0;
        return CUDNN_STATUS_SUCCESS;
    }

    int cudnnConvolutionForward(void* h, const void* alpha, void* xDesc, std::uint64_t x, void* wDesc, std::uint64_t w, void* convDesc,
                                int algo, std::uint64_t, std::size_t, const void* beta, void* yDesc, std::uint64_t y)
    {
        if (h != &handleTag) return fail(CUDNN_STATUS_BAD_PARAM, "unknown handle");
        auto *xd = (Tensor4d*)xDesc, *wd = (Tensor4d*)wDesc, *yd = (Tensor4d*)yDesc;
        auto* c = (Convolution*)convDesc;
        if (int r = validate(xd, wd, c, yd); r != 0) return r;
        if (algo != AlgoImplicitGemm && algo != AlgoFft) return fail(CUDNN_STATUS_NOT_SUPPORTED, "algorithm not emulated");
        if (!x || !w || !y || !alpha || !beta) return fail(CUDNN_STATUS_BAD_PARAM, "null pointer");
        if (xdit_emu::no_exec()) return CUDNN_STATUS_SUCCESS;
        const float a = *(const float*)alpha, b = *(const float*)beta;   // float scaling for every data type here
        const int t = xd->dtype, C = xd->c, H = xd->h, W = xd->w, K = wd->n, R = wd->h, S = wd->w, OH = yd->h, OW = yd->w;
        const void *xp = (const void*)x, *wp = (const void*)w;
        void* yp = (void*)y;
        std::vector<float> wf((std::size_t)K * C * R * S);
        for (std::size_t i = 0; i < wf.size(); ++i) wf[i] = load(wp, t, (std::int64_t)i);
        for (int n = 0; n < xd->n; ++n)
            for (int k = 0; k < K; ++k)
                for (int oh = 0; oh < OH; ++oh)
                    for (int ow = 0; ow < OW; ++ow)
                    {
                        double acc = 0;
                        for (int ci = 0; ci < C; ++ci)
                            for (int r = 0; r < R; ++r)
                            {
                                int ih = oh * c->strideH - c->padH + r * c->dilationH;
                                if (ih < 0 || ih >= H) continue;
                                for (int s = 0; s < S; ++s)
                                {
                                    int iw = ow * c->strideW - c->padW + s * c->dilationW;
                                    if (iw < 0 || iw >= W) continue;
                                    acc += (double)wf[(((std::size_t)k * C + ci) * R + r) * S + s] *
                                           load(xp, t, (((std::int64_t)n * C + ci) * H + ih) * W + iw);
                                }
                            }
                        std::int64_t yi = (((std::int64_t)n * K + k) * OH + oh) * OW + ow;
                        double v = a * acc;
                        if (b != 0.f) v += (double)b * load(yp, t, yi);   // beta 0: y may hold NaN garbage, never read
                        store(yp, t, yi, (float)v);
                    }
        return CUDNN_STATUS_SUCCESS;
    }
}
