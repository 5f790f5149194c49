// A CPU stand-in for cuDNN 9 (libcudnn.so.9): the legacy forward-convolution subset that
// src/Kernels/Cuda/CudnnConvolution.cs binds, and the backend graph API for the fused attention graph of
// src/Kernels/Cuda/CudnnAttention.cs (below), for the tests that run CudaOps on the CPU through
// XDIT_CUDA_LIBRARY_DIR. NCHW tensors and KCRS filters of one dtype (float, half, bfloat16), cross-correlation
// with padding, stride and dilation, y = alpha·conv(x, w) + beta·y accumulated in double and rounded once to
// y's dtype. It offers IMPLICIT_GEMM (0) and FFT (4), so the host's rule of skipping FFT for float32 runs is
// exercised, and needs no workspace. Shapes that do not fit (y not the convolution's output shape, channel
// counts that differ) are refused with CUDNN_STATUS_BAD_PARAM, as cuDNN does.
#include "cuda_emu.h"
#include "common.cuh"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
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

    // a handle remembers its stream: the graph API's work goes on it (now, or at each replay of a captured graph)
    struct Handle
    {
        void* stream = nullptr;
    };
    std::mutex handleMutex;
    std::set<Handle*> handles;

    Handle* handleOf(void* h)
    {
        std::lock_guard<std::mutex> lock(handleMutex);
        return handles.count((Handle*)h) ? (Handle*)h : nullptr;
    }
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
            // the sub-codes the graph API below returns (cudnn_graph.h)
            case 2002: return "CUDNN_STATUS_BAD_PARAM_NULL_POINTER";
            case 2004: return "CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED";
            case 2008: return "CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH";
            case 2010: return "CUDNN_STATUS_BAD_PARAM_ATTRIBUTE_TYPE";
            case 2012: return "CUDNN_STATUS_BAD_PARAM_DESCRIPTOR_TYPE";
            case 3001: return "CUDNN_STATUS_NOT_SUPPORTED_GRAPH_PATTERN";
            case 3002: return "CUDNN_STATUS_NOT_SUPPORTED_SHAPE";
            case 3003: return "CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE";
            case 3004: return "CUDNN_STATUS_NOT_SUPPORTED_LAYOUT";
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
        auto* handle = new Handle();
        std::lock_guard<std::mutex> lock(handleMutex);
        handles.insert(handle);
        *h = handle;
        return CUDNN_STATUS_SUCCESS;
    }

    int cudnnDestroy(void* h)
    {
        {
            std::lock_guard<std::mutex> lock(handleMutex);
            if (!handles.erase((Handle*)h)) return fail(CUDNN_STATUS_BAD_PARAM, "unknown handle");
        }
        delete (Handle*)h;
        return CUDNN_STATUS_SUCCESS;
    }

    int cudnnSetStream(void* h, void* stream)
    {
        Handle* handle = handleOf(h);
        if (!handle) return fail(CUDNN_STATUS_BAD_PARAM, "unknown handle");
        handle->stream = stream;
        return CUDNN_STATUS_SUCCESS;
    }

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
        if (!handleOf(h)) return fail(CUDNN_STATUS_BAD_PARAM, "unknown handle");
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
        if (!handleOf(h)) return fail(CUDNN_STATUS_BAD_PARAM, "unknown handle");
        if (int r = validate((Tensor4d*)x, (Tensor4d*)w, (Convolution*)conv, (Tensor4d*)y); r != 0) return r;
        if (algo != AlgoImplicitGemm && algo != AlgoFft) return fail(CUDNN_STATUS_NOT_SUPPORTED, "algorithm not emulated");
        *bytes = 0;
        return CUDNN_STATUS_SUCCESS;
    }

    int cudnnConvolutionForward(void* h, const void* alpha, void* xDesc, std::uint64_t x, void* wDesc, std::uint64_t w, void* convDesc,
                                int algo, std::uint64_t, std::size_t, const void* beta, void* yDesc, std::uint64_t y)
    {
        if (!handleOf(h)) return fail(CUDNN_STATUS_BAD_PARAM, "unknown handle");
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

// ---- the backend (graph) API: the fused attention graph only ----
// Descriptors keep their attributes as given; finalizing checks each one as cuDNN does (a tensor needs its dtype,
// dims, strides and id; an operation's tensors must chain: a matmul's [.., m, k]·[.., k, n] = [.., m, n], a
// pointwise output the shape of its input with the second operand broadcast, a reduction's output 1 where it
// reduces), and the operation graph must be the SDPA forward pattern cudnn-frontend lowers to (Q·Kᵀ, × by-value
// scale, max, −, exp, Σ, ÷, ·V, optionally log and + for the statistics) with consistent dims, dtypes (bf16 or
// f16 in and out and for P, the second matmul's A; float for the scores and the statistics) and unit stride along
// d: anything else is refused with BAD_PARAM or NOT_SUPPORTED and a last-error line, as cuDNN does. Executing runs
// the attention on the CPU with float32 accumulation: P rounded to its (the input) dtype before P·V, the output
// rounded to its dtype, the statistics max + log(Σ exp) in float. The plan asks for a small workspace so
// the caller's workspace path is exercised. The work goes on the handle's stream (cudnnSetStream) through the
// driver stand-in, so a captured CUDA graph runs it at each replay. xdit_emu_cudnn_refuse_attention(1) makes every
// execution plan fail to finalize (NOT_SUPPORTED), for the tests of the caller's fallback.
namespace xdit_emu
{
    int submit_host(void* stream, std::function<int()> work);   // fake_driver.cpp
}

namespace
{
    enum : int
    {
        ST_BAD_PARAM_NULL_POINTER = 2002, ST_BAD_PARAM_NOT_FINALIZED = 2004, ST_BAD_PARAM_SHAPE_MISMATCH = 2008,
        ST_BAD_PARAM_ATTRIBUTE_TYPE = 2010, ST_BAD_PARAM_DESCRIPTOR_TYPE = 2012,
        ST_NOT_SUPPORTED_GRAPH_PATTERN = 3001, ST_NOT_SUPPORTED_SHAPE = 3002, ST_NOT_SUPPORTED_DATA_TYPE = 3003, ST_NOT_SUPPORTED_LAYOUT = 3004,
    };
    // cudnnBackendDescriptorType_t
    enum : int { D_POINTWISE = 0, D_ENGINECFG = 3, D_ENGINEHEUR = 4, D_EXECUTION_PLAN = 5, D_OP_POINTWISE = 13, D_OPERATIONGRAPH = 15,
                 D_VARIANT_PACK = 16, D_TENSOR = 17, D_MATMUL = 18, D_OP_MATMUL = 19, D_REDUCTION = 21, D_OP_REDUCTION = 22 };
    // cudnnBackendAttributeType_t
    enum : int { T_HANDLE = 0, T_DATA_TYPE = 1, T_BOOLEAN = 2, T_INT64 = 3, T_FLOAT = 4, T_DOUBLE = 5, T_VOID_PTR = 6, T_HEUR_MODE = 8,
                 T_POINTWISE_MODE = 14, T_BACKEND_DESCRIPTOR = 15, T_REDUCTION_OPERATOR = 18 };
    // cudnnBackendAttributeName_t
    enum : int
    {
        A_POINTWISE_MODE = 0, A_POINTWISE_MATH_PREC = 1, A_ENGINEHEUR_MODE = 200, A_ENGINEHEUR_GRAPH = 201, A_ENGINEHEUR_RESULTS = 202,
        A_PLAN_HANDLE = 400, A_PLAN_ENGINE_CONFIG = 401, A_PLAN_WORKSPACE = 402,
        A_OP_PW_DESC = 750, A_OP_PW_X = 751, A_OP_PW_B = 752, A_OP_PW_Y = 753, A_GRAPH_HANDLE = 800, A_GRAPH_OPS = 801,
        A_T_ALIGN = 900, A_T_DTYPE = 901, A_T_DIMS = 902, A_T_STRIDES = 903, A_T_UID = 906, A_T_VIRTUAL = 907, A_T_BY_VALUE = 908,
        A_VP_UIDS = 1000, A_VP_PTRS = 1001, A_VP_WORKSPACE = 1003, A_MATMUL_COMP = 1500,
        A_OP_MM_A = 1520, A_OP_MM_B = 1521, A_OP_MM_C = 1522, A_OP_MM_DESC = 1523,
        A_RED_OP = 1600, A_RED_COMP = 1601, A_OP_RED_X = 1610, A_OP_RED_Y = 1611, A_OP_RED_DESC = 1612,
    };
    enum : int { PW_ADD = 0, PW_MUL = 1, PW_DIV = 6, PW_SUB = 9, PW_EXP = 13, PW_LOG = 15 };
    enum : int { RED_ADD = 0, RED_MAX = 3 };
    constexpr std::int64_t PlanWorkspace = 256;

    std::atomic<int> refuseAttention{ 0 };
    // xdit_emu_cudnn_skew_attention(1): every execution writes O doubled, a plan that runs but computes the wrong thing
    // (what a misread attribute on a real cuDNN would look like), for the check of a plan's first run
    std::atomic<int> skewAttention{ 0 };

    struct Attr
    {
        int type = -1;
        std::int64_t count = 0;
        std::vector<unsigned char> bytes;
    };

    struct Desc
    {
        int type = -1;
        bool finalized = false;
        std::map<int, Attr> attrs;
        // a finalized tensor
        int dtype = -1;
        std::vector<std::int64_t> dims, strides;
        std::int64_t uid = -1;
        bool isVirtual = false, byValue = false;
        // a finalized operation: its mode (pointwise or reduction) and tensors
        int mode = -1;
        Desc *x = nullptr, *b = nullptr, *y = nullptr;
        // a finalized operation graph: the SDPA tensors it was recognized as
        Desc *q = nullptr, *kt = nullptr, *v = nullptr, *o = nullptr, *stats = nullptr, *scale = nullptr;
        // an engine configuration or an execution plan: its graph
        Desc* graph = nullptr;
    };

    std::mutex descMutex;
    std::set<Desc*> liveDescs;

    Desc* live(void* p)
    {
        std::lock_guard<std::mutex> lock(descMutex);
        return liveDescs.count((Desc*)p) ? (Desc*)p : nullptr;
    }

    std::size_t elementSize(int type)
    {
        switch (type)
        {
            case T_BOOLEAN: return 1;
            case T_DATA_TYPE: case T_FLOAT: case T_HEUR_MODE: case T_POINTWISE_MODE: case T_REDUCTION_OPERATOR: return 4;
            case T_HANDLE: case T_INT64: case T_DOUBLE: case T_VOID_PTR: case T_BACKEND_DESCRIPTOR: return 8;
            default: return 0;
        }
    }

    // the attribute type each name takes
    int typeOf(int name)
    {
        switch (name)
        {
            case A_POINTWISE_MODE: return T_POINTWISE_MODE;
            case A_POINTWISE_MATH_PREC: case A_T_DTYPE: case A_MATMUL_COMP: case A_RED_COMP: return T_DATA_TYPE;
            case A_ENGINEHEUR_MODE: return T_HEUR_MODE;
            case A_PLAN_HANDLE: case A_GRAPH_HANDLE: return T_HANDLE;
            case A_T_ALIGN: case A_T_DIMS: case A_T_STRIDES: case A_T_UID: case A_PLAN_WORKSPACE: case A_VP_UIDS: return T_INT64;
            case A_T_VIRTUAL: case A_T_BY_VALUE: return T_BOOLEAN;
            case A_VP_PTRS: case A_VP_WORKSPACE: return T_VOID_PTR;
            case A_RED_OP: return T_REDUCTION_OPERATOR;
            case A_ENGINEHEUR_GRAPH: case A_ENGINEHEUR_RESULTS: case A_PLAN_ENGINE_CONFIG: case A_OP_PW_DESC: case A_OP_PW_X: case A_OP_PW_B:
            case A_OP_PW_Y: case A_GRAPH_OPS: case A_OP_MM_A: case A_OP_MM_B: case A_OP_MM_C: case A_OP_MM_DESC: case A_OP_RED_X:
            case A_OP_RED_Y: case A_OP_RED_DESC: return T_BACKEND_DESCRIPTOR;
            default: return -1;
        }
    }

    const Attr* attr(const Desc* d, int name)
    {
        auto it = d->attrs.find(name);
        return it == d->attrs.end() ? nullptr : &it->second;
    }

    template <typename T> bool scalar(const Desc* d, int name, T& out)
    {
        const Attr* a = attr(d, name);
        if (!a || a->count < 1) return false;
        std::memcpy(&out, a->bytes.data(), sizeof(T));
        return true;
    }

    // a descriptor attribute that must name a finalized descriptor of type `type`
    int descAttr(const Desc* d, int name, int type, const char* what, Desc*& out)
    {
        void* p = nullptr;
        if (!scalar(d, name, p)) return fail(CUDNN_STATUS_BAD_PARAM, what);
        Desc* t = live(p);
        if (!t || t->type != type) return fail(ST_BAD_PARAM_DESCRIPTOR_TYPE, what);
        if (!t->finalized) return fail(ST_BAD_PARAM_NOT_FINALIZED, what);
        out = t;
        return CUDNN_STATUS_SUCCESS;
    }

    std::string dimsText(const Desc* t)
    {
        std::string s = "[";
        for (std::size_t i = 0; i < t->dims.size(); ++i) s += (i ? ", " : "") + std::to_string(t->dims[i]);
        return s + "]";
    }

    int failf(int status, const std::string& what) { return fail(status, what.c_str()); }

    int finalizeTensor(Desc* d)
    {
        const Attr* dims = attr(d, A_T_DIMS);
        const Attr* strides = attr(d, A_T_STRIDES);
        if (!scalar(d, A_T_DTYPE, d->dtype) || !dims || !strides || !scalar(d, A_T_UID, d->uid))
            return fail(CUDNN_STATUS_BAD_PARAM, "tensor: data type, dimensions, strides and unique id are required");
        if (dims->count < 1 || dims->count > 8 || dims->count != strides->count)
            return fail(CUDNN_STATUS_BAD_PARAM, "tensor: 1 to 8 dimensions, as many strides");
        d->dims.assign((const std::int64_t*)dims->bytes.data(), (const std::int64_t*)dims->bytes.data() + dims->count);
        d->strides.assign((const std::int64_t*)strides->bytes.data(), (const std::int64_t*)strides->bytes.data() + strides->count);
        for (std::size_t i = 0; i < d->dims.size(); ++i)
            if (d->dims[i] <= 0 || d->strides[i] <= 0) return fail(CUDNN_STATUS_BAD_PARAM, "tensor: dimensions and strides must be positive");
        if (!knownType(d->dtype)) return fail(ST_NOT_SUPPORTED_DATA_TYPE, "tensor: data type not emulated (float, half, bfloat16)");
        bool flag = false;
        d->isVirtual = scalar(d, A_T_VIRTUAL, flag) && flag;
        flag = false;
        d->byValue = scalar(d, A_T_BY_VALUE, flag) && flag;
        return CUDNN_STATUS_SUCCESS;
    }

    int finalizeMatmul(Desc* d)
    {
        Desc *a, *b, *c, *mm;
        if (int r = descAttr(d, A_OP_MM_A, D_TENSOR, "matmul operation: A must be a finalized tensor", a)) return r;
        if (int r = descAttr(d, A_OP_MM_B, D_TENSOR, "matmul operation: B must be a finalized tensor", b)) return r;
        if (int r = descAttr(d, A_OP_MM_C, D_TENSOR, "matmul operation: C must be a finalized tensor", c)) return r;
        if (int r = descAttr(d, A_OP_MM_DESC, D_MATMUL, "matmul operation: a finalized matmul descriptor is required", mm)) return r;
        std::size_t n = a->dims.size();
        bool chain = n >= 2 && b->dims.size() == n && c->dims.size() == n && a->dims[n - 1] == b->dims[n - 2] &&
                     c->dims[n - 2] == a->dims[n - 2] && c->dims[n - 1] == b->dims[n - 1];
        for (std::size_t i = 0; chain && i + 2 < n; ++i)
            chain = c->dims[i] == std::max(a->dims[i], b->dims[i]) && (a->dims[i] == c->dims[i] || a->dims[i] == 1) && (b->dims[i] == c->dims[i] || b->dims[i] == 1);
        if (!chain)
            return failf(ST_BAD_PARAM_SHAPE_MISMATCH, "matmul operation: A " + dimsText(a) + " · B " + dimsText(b) + " does not give C " + dimsText(c));
        d->x = a; d->b = b; d->y = c;
        return CUDNN_STATUS_SUCCESS;
    }

    int finalizePointwise(Desc* d)
    {
        Desc *pw, *x, *y, *b = nullptr;
        if (int r = descAttr(d, A_OP_PW_DESC, D_POINTWISE, "pointwise operation: a finalized pointwise descriptor is required", pw)) return r;
        if (int r = descAttr(d, A_OP_PW_X, D_TENSOR, "pointwise operation: X must be a finalized tensor", x)) return r;
        if (int r = descAttr(d, A_OP_PW_Y, D_TENSOR, "pointwise operation: Y must be a finalized tensor", y)) return r;
        bool unary = pw->mode == PW_EXP || pw->mode == PW_LOG;
        if (attr(d, A_OP_PW_B))
        {
            if (int r = descAttr(d, A_OP_PW_B, D_TENSOR, "pointwise operation: B must be a finalized tensor", b)) return r;
        }
        if (unary != (b == nullptr)) return fail(CUDNN_STATUS_BAD_PARAM, unary ? "pointwise operation: exp and log take no B" : "pointwise operation: this mode needs B");
        if (x->dims != y->dims) return failf(ST_BAD_PARAM_SHAPE_MISMATCH, "pointwise operation: X " + dimsText(x) + " and Y " + dimsText(y) + " differ");
        if (b)
        {
            bool fits = b->dims.size() == y->dims.size();
            for (std::size_t i = 0; fits && i < y->dims.size(); ++i) fits = b->dims[i] == y->dims[i] || b->dims[i] == 1;
            if (!fits) return failf(ST_BAD_PARAM_SHAPE_MISMATCH, "pointwise operation: B " + dimsText(b) + " does not broadcast to Y " + dimsText(y));
        }
        d->mode = pw->mode; d->x = x; d->b = b; d->y = y;
        return CUDNN_STATUS_SUCCESS;
    }

    int finalizeReduction(Desc* d)
    {
        Desc *red, *x, *y;
        if (int r = descAttr(d, A_OP_RED_DESC, D_REDUCTION, "reduction operation: a finalized reduction descriptor is required", red)) return r;
        if (int r = descAttr(d, A_OP_RED_X, D_TENSOR, "reduction operation: X must be a finalized tensor", x)) return r;
        if (int r = descAttr(d, A_OP_RED_Y, D_TENSOR, "reduction operation: Y must be a finalized tensor", y)) return r;
        bool fits = x->dims.size() == y->dims.size();
        for (std::size_t i = 0; fits && i < x->dims.size(); ++i) fits = y->dims[i] == x->dims[i] || y->dims[i] == 1;
        if (!fits) return failf(ST_BAD_PARAM_SHAPE_MISMATCH, "reduction operation: Y " + dimsText(y) + " is not X " + dimsText(x) + " reduced");
        d->mode = red->mode; d->x = x; d->y = y;
        return CUDNN_STATUS_SUCCESS;
    }

    // Recognizes the SDPA forward pattern among the graph's operations and checks its tensors.
    int recognizeSdpa(Desc* g, const std::vector<Desc*>& ops)
    {
        std::vector<Desc*> left = ops;
        auto take = [&](int type, int mode, std::int64_t xUid, std::int64_t bUid) -> Desc* {
            for (auto it = left.begin(); it != left.end(); ++it)
            {
                Desc* op = *it;
                if (op->type != type || (mode >= 0 && op->mode != mode) || op->x->uid != xUid) continue;
                if (bUid >= 0 && (!op->b || op->b->uid != bUid)) continue;
                left.erase(it);
                return op;
            }
            return nullptr;
        };
        const char* pattern = "operation graph: not the fused attention pattern (Q·Kᵀ, × scale, softmax as max, −, exp, Σ, ÷, ·V)";
        Desc* mm1 = nullptr;
        for (Desc* op : left)
            if (op->type == D_OP_MATMUL && !op->x->isVirtual && !op->b->isVirtual) { mm1 = op; break; }
        if (!mm1) return fail(ST_NOT_SUPPORTED_GRAPH_PATTERN, pattern);
        left.erase(std::find(left.begin(), left.end(), mm1));
        Desc* mul = take(D_OP_POINTWISE, PW_MUL, mm1->y->uid, -1);
        Desc* max = mul ? take(D_OP_REDUCTION, RED_MAX, mul->y->uid, -1) : nullptr;
        Desc* sub = max ? take(D_OP_POINTWISE, PW_SUB, mul->y->uid, max->y->uid) : nullptr;
        Desc* ex = sub ? take(D_OP_POINTWISE, PW_EXP, sub->y->uid, -1) : nullptr;
        Desc* sum = ex ? take(D_OP_REDUCTION, RED_ADD, ex->y->uid, -1) : nullptr;
        Desc* div = sum ? take(D_OP_POINTWISE, PW_DIV, ex->y->uid, sum->y->uid) : nullptr;
        Desc* mm2 = div ? take(D_OP_MATMUL, -1, div->y->uid, -1) : nullptr;
        if (!mm2) return fail(ST_NOT_SUPPORTED_GRAPH_PATTERN, pattern);
        Desc* stats = nullptr;
        if (Desc* lg = take(D_OP_POINTWISE, PW_LOG, sum->y->uid, -1))
        {
            Desc* add = take(D_OP_POINTWISE, PW_ADD, max->y->uid, lg->y->uid);
            if (!add) add = take(D_OP_POINTWISE, PW_ADD, lg->y->uid, max->y->uid);
            if (!add) return fail(ST_NOT_SUPPORTED_GRAPH_PATTERN, "operation graph: log(Σ) is not added to the max as the statistics");
            stats = add->y;
        }
        if (!left.empty()) return fail(ST_NOT_SUPPORTED_GRAPH_PATTERN, "operation graph: operations beyond the fused attention pattern");

        Desc *q = mm1->x, *kt = mm1->b, *v = mm2->b, *o = mm2->y, *scale = mul->b;
        if (q->dims.size() != 4 || kt->dims.size() != 4 || v->dims.size() != 4 || o->dims.size() != 4)
            return fail(ST_NOT_SUPPORTED_SHAPE, "fused attention: Q, Kᵀ, V and O must be 4-D [b, h, s, d]");
        if (q->isVirtual || kt->isVirtual || v->isVirtual || o->isVirtual || (stats && stats->isVirtual))
            return fail(CUDNN_STATUS_BAD_PARAM, "fused attention: Q, K, V, O and the statistics must not be virtual");
        std::int64_t b = q->dims[0], h = q->dims[1], sq = q->dims[2], d = q->dims[3], skv = kt->dims[3], dv = v->dims[3];
        if (kt->dims[0] != b || kt->dims[1] != h || kt->dims[2] != d || v->dims[0] != b || v->dims[1] != h || v->dims[2] != skv ||
            o->dims[0] != b || o->dims[1] != h || o->dims[2] != sq || o->dims[3] != dv)
            return failf(ST_BAD_PARAM_SHAPE_MISMATCH, "fused attention: Q " + dimsText(q) + ", Kᵀ " + dimsText(kt) + ", V " + dimsText(v) + ", O " + dimsText(o) + " disagree");
        for (Desc* t : { mm1->y, mul->y, sub->y, ex->y })
            if (t->dims != std::vector<std::int64_t>{ b, h, sq, skv } || !t->isVirtual || t->dtype != Float)
                return fail(CUDNN_STATUS_BAD_PARAM, "fused attention: the scores must be virtual float [b, h, s_q, s_kv]");
        if (div->y->dims != std::vector<std::int64_t>{ b, h, sq, skv } || !div->y->isVirtual || div->y->dtype != q->dtype)
            return fail(CUDNN_STATUS_BAD_PARAM, "fused attention: P must be virtual [b, h, s_q, s_kv] in the I/O data type (the second matmul's A)");
        for (Desc* t : { max->y, sum->y })
            if (t->dims != std::vector<std::int64_t>{ b, h, sq, 1 } || !t->isVirtual || t->dtype != Float)
                return fail(CUDNN_STATUS_BAD_PARAM, "fused attention: the row max and sum must be virtual float [b, h, s_q, 1]");
        if (stats && (stats->dims != std::vector<std::int64_t>{ b, h, sq, 1 } || stats->dtype != Float))
            return fail(CUDNN_STATUS_BAD_PARAM, "fused attention: the statistics must be float [b, h, s_q, 1]");
        if (!scale->byValue || scale->dtype != Float || scale->dims != std::vector<std::int64_t>{ 1, 1, 1, 1 })
            return fail(CUDNN_STATUS_BAD_PARAM, "fused attention: the scale must be a by-value float [1, 1, 1, 1]");
        int io = q->dtype;
        if ((io != Half && io != BFloat16) || kt->dtype != io || v->dtype != io || o->dtype != io)
            return fail(ST_NOT_SUPPORTED_DATA_TYPE, "fused attention: Q, K, V and O must all be half or all bfloat16");
        if (q->strides[3] != 1 || kt->strides[2] != 1 || v->strides[3] != 1 || o->strides[3] != 1)
            return fail(ST_NOT_SUPPORTED_LAYOUT, "fused attention: unit stride along the head dim is required");
        if (d % 8 != 0 || dv % 8 != 0 || d > 256 || dv > 256)
            return failf(ST_NOT_SUPPORTED_SHAPE, "fused attention: head dims must be multiples of 8 up to 256, got " + std::to_string(d) + " and " + std::to_string(dv));
        g->q = q; g->kt = kt; g->v = v; g->o = o; g->stats = stats; g->scale = scale;
        return CUDNN_STATUS_SUCCESS;
    }

    int finalizeGraph(Desc* g)
    {
        void* h = nullptr;
        if (!scalar(g, A_GRAPH_HANDLE, h) || !handleOf(h)) return fail(CUDNN_STATUS_BAD_PARAM, "operation graph: a cuDNN handle is required");
        const Attr* a = attr(g, A_GRAPH_OPS);
        if (!a || a->count < 1) return fail(CUDNN_STATUS_BAD_PARAM, "operation graph: no operations");
        std::vector<Desc*> ops;
        for (std::int64_t i = 0; i < a->count; ++i)
        {
            Desc* op = live(((void* const*)a->bytes.data())[i]);
            if (!op || (op->type != D_OP_MATMUL && op->type != D_OP_POINTWISE && op->type != D_OP_REDUCTION))
                return fail(ST_BAD_PARAM_DESCRIPTOR_TYPE, "operation graph: an entry is not a matmul, pointwise or reduction operation");
            if (!op->finalized) return fail(ST_BAD_PARAM_NOT_FINALIZED, "operation graph: an operation is not finalized");
            ops.push_back(op);
        }
        return recognizeSdpa(g, ops);
    }

    int finalizeDesc(Desc* d)
    {
        switch (d->type)
        {
            case D_TENSOR: return finalizeTensor(d);
            case D_POINTWISE:
                if (!scalar(d, A_POINTWISE_MODE, d->mode)) return fail(CUDNN_STATUS_BAD_PARAM, "pointwise: a mode is required");
                if (d->mode != PW_ADD && d->mode != PW_MUL && d->mode != PW_DIV && d->mode != PW_SUB && d->mode != PW_EXP && d->mode != PW_LOG)
                    return fail(CUDNN_STATUS_NOT_SUPPORTED, "pointwise: mode not emulated");
                return CUDNN_STATUS_SUCCESS;
            case D_MATMUL:
            {
                int comp = -1;
                if (!scalar(d, A_MATMUL_COMP, comp) || comp != Float) return fail(CUDNN_STATUS_BAD_PARAM, "matmul: a float compute type is required");
                return CUDNN_STATUS_SUCCESS;
            }
            case D_REDUCTION:
            {
                int comp = -1;
                if (!scalar(d, A_RED_OP, d->mode) || (d->mode != RED_ADD && d->mode != RED_MAX)) return fail(CUDNN_STATUS_BAD_PARAM, "reduction: ADD or MAX");
                if (!scalar(d, A_RED_COMP, comp) || comp != Float) return fail(CUDNN_STATUS_BAD_PARAM, "reduction: a float compute type is required");
                return CUDNN_STATUS_SUCCESS;
            }
            case D_OP_MATMUL: return finalizeMatmul(d);
            case D_OP_POINTWISE: return finalizePointwise(d);
            case D_OP_REDUCTION: return finalizeReduction(d);
            case D_OPERATIONGRAPH: return finalizeGraph(d);
            case D_ENGINEHEUR:
            {
                int mode = -1;
                if (int r = descAttr(d, A_ENGINEHEUR_GRAPH, D_OPERATIONGRAPH, "engine heuristics: a finalized operation graph is required", d->graph)) return r;
                if (!scalar(d, A_ENGINEHEUR_MODE, mode) || mode < 0 || mode > 3) return fail(CUDNN_STATUS_BAD_PARAM, "engine heuristics: a mode is required");
                return CUDNN_STATUS_SUCCESS;
            }
            case D_ENGINECFG: return d->graph ? CUDNN_STATUS_SUCCESS : fail(CUDNN_STATUS_BAD_PARAM, "engine config: not filled by the heuristics");
            case D_EXECUTION_PLAN:
            {
                void* h = nullptr;
                Desc* cfg;
                if (!scalar(d, A_PLAN_HANDLE, h) || !handleOf(h)) return fail(CUDNN_STATUS_BAD_PARAM, "execution plan: a cuDNN handle is required");
                if (int r = descAttr(d, A_PLAN_ENGINE_CONFIG, D_ENGINECFG, "execution plan: an engine config from the heuristics is required", cfg)) return r;
                if (refuseAttention.load()) return fail(CUDNN_STATUS_NOT_SUPPORTED, "execution plan: refused on request (xdit_emu_cudnn_refuse_attention)");
                d->graph = cfg->graph;
                return CUDNN_STATUS_SUCCESS;
            }
            case D_VARIANT_PACK:
            {
                const Attr *uids = attr(d, A_VP_UIDS), *ptrs = attr(d, A_VP_PTRS);
                if (!uids || !ptrs || uids->count != ptrs->count) return fail(CUDNN_STATUS_BAD_PARAM, "variant pack: as many data pointers as unique ids");
                if (!attr(d, A_VP_WORKSPACE)) return fail(CUDNN_STATUS_BAD_PARAM, "variant pack: a workspace pointer (may be null) is required");
                return CUDNN_STATUS_SUCCESS;
            }
            default: return fail(CUDNN_STATUS_NOT_SUPPORTED, "descriptor type not emulated");
        }
    }

    float roundTo(int t, float v)
    {
        switch (t)
        {
            case Half: return xdit_emu::f16_to_f32(xdit_emu::f32_to_f16(v));
            case BFloat16: return bf16_to_f(f_to_bf16(v));
            default: return v;
        }
    }

    std::int64_t at(const Desc* t, std::int64_t i0, std::int64_t i1, std::int64_t i2, std::int64_t i3)
    {
        return i0 * t->strides[0] + i1 * t->strides[1] + i2 * t->strides[2] + i3 * t->strides[3];
    }

    // softmax(scale·Q·Kᵀ)·V per (b, h, query) in float; P rounded to the input dtype before ·V
    void runSdpa(const Desc& Qd, const Desc& Kd, const Desc& Vd, const Desc& Od, const Desc* statsDesc,
                 const void* q, const void* k, const void* v, void* o, float* stats, float scale)
    {
        const Desc *Q = &Qd, *K = &Kd, *V = &Vd, *O = &Od;
        const std::int64_t B = Q->dims[0], H = Q->dims[1], Sq = Q->dims[2], D = Q->dims[3], Skv = K->dims[3], Dv = V->dims[3];
        const int t = Q->dtype;
        std::vector<float> s((std::size_t)Skv), acc((std::size_t)Dv);
        for (std::int64_t b = 0; b < B; ++b)
            for (std::int64_t h = 0; h < H; ++h)
                for (std::int64_t i = 0; i < Sq; ++i)
                {
                    float m = -INFINITY;
                    for (std::int64_t j = 0; j < Skv; ++j)
                    {
                        float dot = 0;
                        for (std::int64_t d = 0; d < D; ++d) dot += load(q, t, at(Q, b, h, i, d)) * load(k, t, at(K, b, h, d, j));
                        s[j] = dot * scale;
                        m = std::max(m, s[j]);
                    }
                    float l = 0;
                    for (std::int64_t j = 0; j < Skv; ++j) l += (s[j] = std::exp(s[j] - m));
                    std::fill(acc.begin(), acc.end(), 0.f);
                    for (std::int64_t j = 0; j < Skv; ++j)
                    {
                        float p = roundTo(t, s[j] / l);
                        for (std::int64_t d = 0; d < Dv; ++d) acc[d] += p * load(v, t, at(V, b, h, j, d));
                    }
                    for (std::int64_t d = 0; d < Dv; ++d) store(o, t, at(O, b, h, i, d), acc[d]);
                    if (stats) stats[at(statsDesc, b, h, i, 0)] = m + std::log(l);
                }
    }
}

extern "C"
{
    __attribute__((visibility("default"))) void xdit_emu_cudnn_refuse_attention(int on) { refuseAttention.store(on); }
    __attribute__((visibility("default"))) void xdit_emu_cudnn_skew_attention(int on) { skewAttention.store(on); }

    int cudnnBackendCreateDescriptor(int type, void** out)
    {
        if (!out) return fail(ST_BAD_PARAM_NULL_POINTER, "cudnnBackendCreateDescriptor: null output");
        switch (type)
        {
            case D_POINTWISE: case D_ENGINECFG: case D_ENGINEHEUR: case D_EXECUTION_PLAN: case D_OP_POINTWISE: case D_OPERATIONGRAPH:
            case D_VARIANT_PACK: case D_TENSOR: case D_MATMUL: case D_OP_MATMUL: case D_REDUCTION: case D_OP_REDUCTION: break;
            default: return fail(CUDNN_STATUS_NOT_SUPPORTED, "cudnnBackendCreateDescriptor: descriptor type not emulated");
        }
        auto* d = new Desc();
        d->type = type;
        std::lock_guard<std::mutex> lock(descMutex);
        liveDescs.insert(d);
        *out = d;
        return CUDNN_STATUS_SUCCESS;
    }

    int cudnnBackendDestroyDescriptor(void* p)
    {
        {
            std::lock_guard<std::mutex> lock(descMutex);
            if (!liveDescs.erase((Desc*)p)) return fail(CUDNN_STATUS_BAD_PARAM, "cudnnBackendDestroyDescriptor: unknown descriptor");
        }
        delete (Desc*)p;
        return CUDNN_STATUS_SUCCESS;
    }

    int cudnnBackendSetAttribute(void* p, int name, int type, std::int64_t count, const void* elements)
    {
        Desc* d = live(p);
        if (!d) return fail(CUDNN_STATUS_BAD_PARAM, "cudnnBackendSetAttribute: unknown descriptor");
        if (d->finalized) return fail(CUDNN_STATUS_BAD_PARAM, "cudnnBackendSetAttribute: the descriptor is finalized");
        int want = typeOf(name);
        if (want < 0) return failf(CUDNN_STATUS_NOT_SUPPORTED, "cudnnBackendSetAttribute: attribute " + std::to_string(name) + " not emulated");
        if (type != want) return failf(ST_BAD_PARAM_ATTRIBUTE_TYPE, "cudnnBackendSetAttribute: attribute " + std::to_string(name) + " takes type " + std::to_string(want));
        if (count < 0 || (count > 0 && !elements)) return fail(ST_BAD_PARAM_NULL_POINTER, "cudnnBackendSetAttribute: no elements");
        Attr a;
        a.type = type;
        a.count = count;
        a.bytes.resize((std::size_t)count * elementSize(type));
        if (count > 0) std::memcpy(a.bytes.data(), elements, a.bytes.size());
        d->attrs[name] = std::move(a);
        return CUDNN_STATUS_SUCCESS;
    }

    int cudnnBackendFinalize(void* p)
    {
        Desc* d = live(p);
        if (!d) return fail(CUDNN_STATUS_BAD_PARAM, "cudnnBackendFinalize: unknown descriptor");
        if (d->finalized) return fail(CUDNN_STATUS_BAD_PARAM, "cudnnBackendFinalize: already finalized");
        int r = finalizeDesc(d);
        if (r == CUDNN_STATUS_SUCCESS) d->finalized = true;
        return r;
    }

    int cudnnBackendGetAttribute(void* p, int name, int type, std::int64_t requested, std::int64_t* count, void* elements)
    {
        Desc* d = live(p);
        if (!d) return fail(CUDNN_STATUS_BAD_PARAM, "cudnnBackendGetAttribute: unknown descriptor");
        if (!d->finalized) return fail(ST_BAD_PARAM_NOT_FINALIZED, "cudnnBackendGetAttribute: the descriptor is not finalized");
        if (d->type == D_ENGINEHEUR && name == A_ENGINEHEUR_RESULTS && type == T_BACKEND_DESCRIPTOR)
        {
            if (count) *count = 1;   // one engine: the CPU
            if (requested < 1) return CUDNN_STATUS_SUCCESS;
            if (!elements) return fail(ST_BAD_PARAM_NULL_POINTER, "cudnnBackendGetAttribute: no array for the engine configs");
            Desc* cfg = live(((void**)elements)[0]);
            if (!cfg || cfg->type != D_ENGINECFG) return fail(ST_BAD_PARAM_DESCRIPTOR_TYPE, "cudnnBackendGetAttribute: the results array must hold engine config descriptors");
            cfg->graph = d->graph;
            cfg->finalized = true;
            return CUDNN_STATUS_SUCCESS;
        }
        if (d->type == D_EXECUTION_PLAN && name == A_PLAN_WORKSPACE && type == T_INT64)
        {
            if (requested < 1 || !elements) return fail(ST_BAD_PARAM_NULL_POINTER, "cudnnBackendGetAttribute: no room for the workspace size");
            *(std::int64_t*)elements = PlanWorkspace;
            if (count) *count = 1;
            return CUDNN_STATUS_SUCCESS;
        }
        return failf(CUDNN_STATUS_NOT_SUPPORTED, "cudnnBackendGetAttribute: attribute " + std::to_string(name) + " not emulated");
    }

    int cudnnBackendExecute(void* h, void* planP, void* packP)
    {
        if (!handleOf(h)) return fail(CUDNN_STATUS_BAD_PARAM, "cudnnBackendExecute: unknown handle");
        Desc *plan = live(planP), *pack = live(packP);
        if (!plan || plan->type != D_EXECUTION_PLAN || !pack || pack->type != D_VARIANT_PACK)
            return fail(ST_BAD_PARAM_DESCRIPTOR_TYPE, "cudnnBackendExecute: an execution plan and a variant pack are required");
        if (!plan->finalized || !pack->finalized) return fail(ST_BAD_PARAM_NOT_FINALIZED, "cudnnBackendExecute: finalize the plan and the variant pack first");
        const Desc* g = plan->graph;
        const Attr *uids = attr(pack, A_VP_UIDS), *ptrs = attr(pack, A_VP_PTRS);
        auto pointer = [&](const Desc* t) -> void* {
            for (std::int64_t i = 0; i < uids->count; ++i)
                if (((const std::int64_t*)uids->bytes.data())[i] == t->uid) return ((void* const*)ptrs->bytes.data())[i];
            return nullptr;
        };
        void *q = pointer(g->q), *k = pointer(g->kt), *v = pointer(g->v), *o = pointer(g->o), *scale = pointer(g->scale);
        void* stats = g->stats ? pointer(g->stats) : nullptr;
        if (!q || !k || !v || !o || !scale || (g->stats && !stats))
            return fail(ST_BAD_PARAM_NULL_POINTER, "cudnnBackendExecute: the variant pack lacks a pointer for Q, K, V, O, the scale or the statistics");
        void* ws = nullptr;
        scalar(pack, A_VP_WORKSPACE, ws);
        if (!ws) return fail(ST_BAD_PARAM_NULL_POINTER, "cudnnBackendExecute: the plan needs a workspace");
        if (xdit_emu::no_exec()) return CUDNN_STATUS_SUCCESS;
        // on the handle's stream, as the driver stand-in orders work: a captured graph runs it at each replay, with
        // the tensors' layouts and the by-value scale as they are now
        Desc Q = *g->q, K = *g->kt, V = *g->v, O = *g->o, S = g->stats ? *g->stats : Desc();
        float sc = *(const float*)scale;
        bool skew = skewAttention.load() != 0;
        int r = xdit_emu::submit_host(handleOf(h)->stream, [=]() {
            runSdpa(Q, K, V, O, stats ? &S : nullptr, q, k, v, o, (float*)stats, sc);
            if (skew)
                for (std::int64_t b = 0; b < O.dims[0]; ++b)
                    for (std::int64_t hh = 0; hh < O.dims[1]; ++hh)
                        for (std::int64_t i = 0; i < O.dims[2]; ++i)
                            for (std::int64_t d = 0; d < O.dims[3]; ++d)
                            {
                                std::int64_t at = b * O.strides[0] + hh * O.strides[1] + i * O.strides[2] + d * O.strides[3];
                                store(o, O.dtype, at, 2.f * load(o, O.dtype, at));
                            }
            return 0;
        });
        return r == 0 ? CUDNN_STATUS_SUCCESS : fail(5000, "cudnnBackendExecute: the stream refused the work");   // CUDNN_STATUS_EXECUTION_FAILED
    }
}
