// A CPU stand-in for cuBLAS and cuBLASLt (CUDA 13 C ABI), so that the C# CUDA backend's GEMMs (LtMatmul.cs) run
// end to end on a machine with no GPU. The tests load it in place of libcublas/libcublasLt through
// XDIT_CUDA_LIBRARY_DIR. It implements the subset LtMatmul uses, with the semantics cuBLASLt documents:
// column-major D = epilogue(alpha·op(A)·op(B) + beta·C [+ bias]), strided batches, F32/F16/BF16 data, float
// accumulation, one rounding to D's type. "Device pointers" are host addresses; a GEMM runs before its call returns,
// unless its stream is being captured, when the graph runs it at each replay (fake_driver.cpp).
//
// It is stricter than it needs to be where that catches bugs on the C# side before they reach a GPU: attribute ids
// and sizes are checked, handles and descriptors must be live objects of the right kind, layouts must agree with
// each other, pointers must be aligned to their element size and to what the heuristic was told (see Algo), and
// the matrices of a batched D must not overlap.
//
// cublasGemmStridedBatchedEx computes the same products (the fallback where cuBLASLt has no algorithm), and a test
// can make the heuristic find none (xdit_emu_cublaslt_refuse).
//
// Not implemented: epilogues other than DEFAULT/RELU/BIAS/RELU_BIAS/GELU/GELU_BIAS, aux outputs, scale pointers,
// FP8/int types, orders other than column-major, pointer modes other than host/device scalars.

#include "cuda_emu.h"
#include "common.cuh"   // the kernels' bf16 rounding, so GEMM outputs round as the kernels' do

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#define XDIT_BLAS_EXPORT extern "C" __attribute__((visibility("default")))

namespace
{
    // cublasStatus_t
    constexpr int kSuccess = 0, kNotInitialized = 1, kAllocFailed = 3, kInvalidValue = 7, kNotSupported = 15;

    // cudaDataType
    constexpr int kR32F = 0, kR16F = 2, kR16BF = 14;
    // cublasComputeType_t
    constexpr int kCompute32F = 68, kCompute32FPedantic = 69;
    // cublasLtEpilogue_t
    constexpr uint32_t kEpiDefault = 1, kEpiRelu = 2, kEpiBias = 4, kEpiReluBias = 6, kEpiGelu = 32, kEpiGeluBias = 36;

    // ---- objects ------------------------------------------------------------------------------------------------
    // Every handle the library gives out is registered with its kind: the C# side passes them all as nint, so a
    // layout passed where a descriptor belongs, or a destroyed one, must be an error rather than a misread.

    enum class Kind { Blas, Lt, Desc, Layout, Pref };

    struct BlasHandle
    {
        void* stream = nullptr;   // cublasSetStream_v2's
    };
    struct LtHandle { };

    struct MatmulDesc
    {
        int32_t computeType = kCompute32F;
        int32_t scaleType = kR32F;
        int32_t pointerMode = 0;
        int32_t transA = 0, transB = 0, transC = 0;
        int32_t fillMode = 2;              // CUBLAS_FILL_MODE_FULL; only meaningful for symmetric products
        uint32_t epilogue = kEpiDefault;
        uint64_t bias = 0;
        int64_t biasBatchStride = 0;
        int32_t biasType = -1;             // -1: unset, bias has D's type
        int64_t alphaBatchStride = 0;      // ALPHA_VECTOR_BATCH_STRIDE, in elements, with pointer mode 4
    };

    // cublasLtPointerMode_t: HOST 0, DEVICE 1, DEVICE_VECTOR 2, ALPHA_DEVICE_VECTOR_BETA_ZERO 3,
    // ALPHA_DEVICE_VECTOR_BETA_HOST 4 (alpha a device vector of D's rows, in the scale type, beta a host scalar).
    constexpr int32_t kPointerAlphaVectorBetaHost = 4;

    struct MatrixLayout
    {
        uint32_t type = kR32F;
        int32_t order = 0;                 // CUBLASLT_ORDER_COL
        uint64_t rows = 0, cols = 0;
        int64_t ld = 0;
        int32_t batch = 1;
        int64_t stride = 0;                // elements between the matrices of a batch
    };

    struct Pref
    {
        uint32_t searchMode = 0;
        uint64_t maxWorkspace = 0;
        uint32_t reductionMask = 0;
        uint32_t align[4] = {256, 256, 256, 256};   // A, B, C, D: cuBLASLt's default assumption
        float maxWaves = 0;
        uint64_t implMask = ~0ull;
    };

    std::mutex gMutex;
    std::unordered_map<const void*, Kind>& Live()
    {
        static std::unordered_map<const void*, Kind> live;
        return live;
    }

    template <class T>
    T* Make(Kind kind)
    {
        T* p = new (std::nothrow) T();
        if (!p) return nullptr;
        try
        {
            std::lock_guard<std::mutex> lock(gMutex);
            Live()[p] = kind;
        }
        catch (...)   // nothing may unwind into the caller, which is C or C#
        {
            delete p;
            return nullptr;
        }
        return p;
    }

    template <class T>
    T* Find(const void* p, Kind kind)
    {
        if (!p) return nullptr;
        std::lock_guard<std::mutex> lock(gMutex);
        auto it = Live().find(p);
        return it != Live().end() && it->second == kind ? static_cast<T*>(const_cast<void*>(p)) : nullptr;
    }

    // Destroying NULL is a no-op as in CUDA; destroying something not live (twice, or the wrong kind) is an error.
    template <class T>
    int Drop(void* p, Kind kind)
    {
        if (!p) return kSuccess;
        {
            std::lock_guard<std::mutex> lock(gMutex);
            auto it = Live().find(p);
            if (it == Live().end() || it->second != kind) return kInvalidValue;
            Live().erase(it);
        }
        delete static_cast<T*>(p);
        return kSuccess;
    }

    // Attribute values arrive as (buffer, size); cuBLASLt rejects a size that is not the attribute's type.
    template <class T>
    int Read(T& out, const void* buf, size_t bytes)
    {
        if (!buf || bytes != sizeof(T)) return kInvalidValue;
        std::memcpy(&out, buf, sizeof(T));
        return kSuccess;
    }

    // ---- element types --------------------------------------------------------------------------------------------

    bool KnownType(int64_t t) { return t == kR32F || t == kR16F || t == kR16BF; }
    size_t ElemSize(int t) { return t == kR32F ? 4 : 2; }

    float Load(const unsigned char* base, int64_t i, int type)
    {
        switch (type)
        {
            case kR32F: { float f; std::memcpy(&f, base + i * 4, 4); return f; }
            case kR16F: { uint16_t h; std::memcpy(&h, base + i * 2, 2); return xdit_emu::f16_to_f32(h); }
            default: { uint16_t h; std::memcpy(&h, base + i * 2, 2); return bf16_to_f(h); }
        }
    }

    void Store(unsigned char* base, int64_t i, int type, float v)
    {
        switch (type)
        {
            case kR32F: std::memcpy(base + i * 4, &v, 4); break;
            case kR16F: { uint16_t h = xdit_emu::f32_to_f16(v); std::memcpy(base + i * 2, &h, 2); break; }
            default: { uint16_t h = f_to_bf16(v); std::memcpy(base + i * 2, &h, 2); break; }
        }
    }

    // ---- the problem --------------------------------------------------------------------------------------------

    bool LayoutValid(const MatrixLayout& l)
    {
        return KnownType(l.type) && l.order == 0 && l.ld >= 0 && uint64_t(l.ld) >= l.rows && l.batch >= 1;
    }

    bool Transposed(int32_t op) { return op != 0; }   // CUBLAS_OP_C is CUBLAS_OP_T for real data

    struct Problem
    {
        int64_t m = 0, n = 0, k = 0;
        int batch = 1;
        bool ta = false, tb = false;
        bool bias = false, relu = false, gelu = false;
    };

    // What cublasLtMatmulAlgoGetHeuristic and cublasLtMatmul both check: the shapes of A, B, C and D agree with
    // TRANSA/TRANSB, the batches agree, and the epilogue is one this library computes.
    int Derive(const MatmulDesc* desc, const MatrixLayout* a, const MatrixLayout* b, const MatrixLayout* c, const MatrixLayout* d, Problem& p)
    {
        if (!desc || !a || !b || !c || !d) return kInvalidValue;
        for (const MatrixLayout* l : {a, b, c, d})
            if (!LayoutValid(*l)) return kInvalidValue;
        p.ta = Transposed(desc->transA);
        p.tb = Transposed(desc->transB);
        p.m = int64_t(d->rows);
        p.n = int64_t(d->cols);
        p.k = int64_t(p.ta ? a->rows : a->cols);
        if (uint64_t(p.ta ? a->cols : a->rows) != d->rows) return kInvalidValue;
        if ((p.tb ? b->rows : b->cols) != d->cols || uint64_t(p.tb ? b->cols : b->rows) != uint64_t(p.k)) return kInvalidValue;
        if (c->rows != d->rows || c->cols != d->cols) return kInvalidValue;
        if (a->batch != d->batch || b->batch != d->batch || c->batch != d->batch) return kInvalidValue;
        p.batch = d->batch;
        // Batched outputs that overlap would race on a GPU; stride 0 is only meaningful for inputs.
        if (p.batch > 1 && p.m > 0 && p.n > 0 && d->stride < (p.n - 1) * d->ld + p.m) return kInvalidValue;
        switch (desc->epilogue)
        {
            case kEpiDefault: break;
            case kEpiRelu: p.relu = true; break;
            case kEpiBias: p.bias = true; break;
            case kEpiReluBias: p.bias = p.relu = true; break;
            case kEpiGelu: p.gelu = true; break;
            case kEpiGeluBias: p.bias = p.gelu = true; break;
            default: return kNotSupported;
        }
        if (p.bias && desc->biasType != -1 && !KnownType(desc->biasType)) return kNotSupported;
        return kSuccess;
    }

    // The algorithm the heuristic returns records the alignments it was promised; cublasLtMatmul then refuses
    // pointers that break the promise, which on a GPU could pick a vectorised kernel that faults. An algo without
    // the tag (zeroed, or made up by the caller) promises nothing.
    constexpr uint64_t kAlgoTag = 0x5844495445'4d55ull;   // "XDITEMU"

    // The strictest requirement a real kernel is likely to have is 16 bytes (one vector load).
    uint32_t Required(uint32_t promised) { return promised < 16 ? promised : 16; }

    // Every matrix of a strided batch starts at p + i·stride, so its alignment is that of p and of the stride.
    bool Aligned(uint64_t p, const MatrixLayout& l, int batch, uint64_t to)
    {
        uint64_t bits = p;
        if (batch > 1) bits |= uint64_t(l.stride) * ElemSize(int(l.type));
        return to <= 1 || bits % to == 0;
    }

    const unsigned char* Matrix(uint64_t base, const MatrixLayout& l, int i)
    {
        return reinterpret_cast<const unsigned char*>(uintptr_t(base + uint64_t(int64_t(i) * l.stride * int64_t(ElemSize(int(l.type))))));
    }

    // op(X) as a dense rows×cols column-major float matrix.
    void LoadOp(std::vector<float>& out, const unsigned char* x, const MatrixLayout& l, bool trans, int64_t rows, int64_t cols)
    {
        int type = int(l.type);
        if (!trans)
        {
            for (int64_t c = 0; c < cols; ++c)
                for (int64_t r = 0; r < rows; ++r) out[size_t(r + c * rows)] = Load(x, r + c * l.ld, type);
        }
        else
        {
            // op(X)(r, c) = X(c, r): walk X down its columns so the reads are contiguous.
            for (int64_t r = 0; r < rows; ++r)
                for (int64_t c = 0; c < cols; ++c) out[size_t(r + c * rows)] = Load(x, c + r * l.ld, type);
        }
    }

    float Gelu(float x)
    {
        // cuBLASLt documents its GELU epilogue as the tanh approximation.
        return 0.5f * x * (1.f + std::tanh(0.7978845608f * (x + 0.044715f * x * x * x)));
    }

    // alpha per row of D when the descriptor's pointer mode is ALPHA_DEVICE_VECTOR_BETA_HOST: alphaVec (device
    // memory, F32 as the scale type) at alphaVec[i·ALPHA_VECTOR_BATCH_STRIDE + r] for batch i; else the scalar alpha.
    void Run(const Problem& p, const MatmulDesc& desc, float alpha, const float* alphaVec, float beta, uint64_t a, const MatrixLayout& la, uint64_t b,
             const MatrixLayout& lb, uint64_t c, const MatrixLayout& lc, uint64_t d, const MatrixLayout& ld)
    {
        const int64_t m = p.m, n = p.n, k = p.k;
        std::vector<float> opA(static_cast<size_t>(m * k)), opB(static_cast<size_t>(k * n)), acc(static_cast<size_t>(m));
        const int biasType = desc.biasType == -1 ? int(ld.type) : desc.biasType;
        for (int i = 0; i < p.batch; ++i)
        {
            // A shared operand (stride 0) is converted once for the whole batch.
            if (i == 0 || la.stride != 0) LoadOp(opA, Matrix(a, la, i), la, p.ta, m, k);
            if (i == 0 || lb.stride != 0) LoadOp(opB, Matrix(b, lb, i), lb, p.tb, k, n);
            const unsigned char* cm = Matrix(c, lc, i);
            unsigned char* dm = const_cast<unsigned char*>(Matrix(d, ld, i));
            const unsigned char* bias = p.bias
                ? reinterpret_cast<const unsigned char*>(uintptr_t(desc.bias + uint64_t(int64_t(i) * desc.biasBatchStride * int64_t(ElemSize(biasType)))))
                : nullptr;
            for (int64_t col = 0; col < n; ++col)
            {
                // Column col of D is a combination of the columns of op(A): an axpy per k, contiguous in memory.
                float* __restrict s = acc.data();
                std::fill(acc.begin(), acc.end(), 0.f);
                for (int64_t q = 0; q < k; ++q)
                {
                    const float w = opB[size_t(q + col * k)];
                    const float* __restrict x = opA.data() + q * m;
                    for (int64_t r = 0; r < m; ++r) s[r] += x[r] * w;
                }
                for (int64_t r = 0; r < m; ++r)
                {
                    float v = (alphaVec ? alphaVec[size_t(int64_t(i) * desc.alphaBatchStride + r)] : alpha) * s[r];
                    // beta == 0 must not read C: it is often D itself, uninitialised (possibly NaN) memory.
                    if (beta != 0.f) v += beta * Load(cm, r + col * lc.ld, int(lc.type));
                    if (bias) v += Load(bias, r, biasType);
                    if (p.relu) v = std::fmax(v, 0.f);
                    if (p.gelu) v = Gelu(v);
                    Store(dm, r + col * ld.ld, int(ld.type), v);
                }
            }
        }
    }
}

namespace xdit_emu
{
    int submit_host(void* stream, std::function<int()> work);   // fake_driver.cpp
}

namespace
{
    // Runs a GEMM on `stream` as the driver stand-in orders work: now, or at each replay of a graph captured from it.
    template <class Work>
    int Enqueue(void* stream, Work work)
    {
        return xdit_emu::submit_host(stream, [work]() -> int {
            try
            {
                work();
                return kSuccess;
            }
            catch (const std::bad_alloc&)
            {
                return kAllocFailed;
            }
        });
    }
}

// ---- cuBLAS -----------------------------------------------------------------------------------------------------

XDIT_BLAS_EXPORT const char* cublasGetStatusName(int status)
{
    switch (status)
    {
        case 0: return "CUBLAS_STATUS_SUCCESS";
        case 1: return "CUBLAS_STATUS_NOT_INITIALIZED";
        case 3: return "CUBLAS_STATUS_ALLOC_FAILED";
        case 7: return "CUBLAS_STATUS_INVALID_VALUE";
        case 8: return "CUBLAS_STATUS_ARCH_MISMATCH";
        case 11: return "CUBLAS_STATUS_MAPPING_ERROR";
        case 13: return "CUBLAS_STATUS_EXECUTION_FAILED";
        case 14: return "CUBLAS_STATUS_INTERNAL_ERROR";
        case 15: return "CUBLAS_STATUS_NOT_SUPPORTED";
        case 16: return "CUBLAS_STATUS_LICENSE_ERROR";
        default: return "CUBLAS_STATUS_UNKNOWN";
    }
}

// libraryPropertyType: MAJOR_VERSION 0, MINOR_VERSION 1, PATCH_LEVEL 2. Reports cuBLAS 13.1.0.
XDIT_BLAS_EXPORT int cublasGetProperty(int type, int* value)
{
    if (!value) return kInvalidValue;
    switch (type)
    {
        case 0: *value = 13; return kSuccess;
        case 1: *value = 1; return kSuccess;
        case 2: *value = 0; return kSuccess;
        default: return kInvalidValue;
    }
}

XDIT_BLAS_EXPORT int cublasCreate_v2(void** handle)
{
    if (!handle) return kInvalidValue;
    *handle = Make<BlasHandle>(Kind::Blas);
    return *handle ? kSuccess : kAllocFailed;
}

XDIT_BLAS_EXPORT int cublasDestroy_v2(void* handle)
{
    if (!handle) return kNotInitialized;
    return Drop<BlasHandle>(handle, Kind::Blas) == kSuccess ? kSuccess : kNotInitialized;
}

XDIT_BLAS_EXPORT int cublasSetStream_v2(void* handle, void* stream)
{
    BlasHandle* h = Find<BlasHandle>(handle, Kind::Blas);
    if (!h) return kNotInitialized;
    h->stream = stream;
    return kSuccess;
}

XDIT_BLAS_EXPORT int cublasSetWorkspace_v2(void* handle, void* /*workspace*/, size_t /*bytes*/)
{
    return Find<BlasHandle>(handle, Kind::Blas) ? kSuccess : kNotInitialized;
}

XDIT_BLAS_EXPORT int cublasSetMathMode(void* handle, int /*mode*/)
{
    // Every math mode computes the same thing here: there are no tensor cores to allow or forbid.
    return Find<BlasHandle>(handle, Kind::Blas) ? kSuccess : kNotInitialized;
}

XDIT_BLAS_EXPORT int cublasGemmStridedBatchedEx(void* handle, int transa, int transb, int m, int n, int k, const void* alpha,
                                                const void* A, int aType, int lda, long long strideA, const void* B, int bType,
                                                int ldb, long long strideB, const void* beta, void* C, int cType, int ldc,
                                                long long strideC, int batch, int computeType, int algo)
{
    BlasHandle* h = Find<BlasHandle>(handle, Kind::Blas);
    if (!h) return kNotInitialized;
    if (computeType != kCompute32F && computeType != kCompute32FPedantic) return kNotSupported;
    // CUBLAS_GEMM_DEFAULT (-1), CUBLAS_GEMM_ALGO0..23, CUBLAS_GEMM_DEFAULT_TENSOR_OP (99) .. ALGO15_TENSOR_OP (115)
    if (!(algo >= -1 && algo <= 23) && !(algo >= 99 && algo <= 115)) return kInvalidValue;
    if (m < 0 || n < 0 || k < 0 || batch < 0 || transa < 0 || transa > 2 || transb < 0 || transb > 2) return kInvalidValue;
    // 32F compute takes 16F x 16F -> 16F or 32F, 16BF likewise, and 32F x 32F -> 32F
    if (!KnownType(aType) || bType != aType || (cType != aType && cType != kR32F)) return kNotSupported;
    if (!alpha || !beta) return kInvalidValue;
    MatmulDesc desc;
    desc.transA = transa;
    desc.transB = transb;
    MatrixLayout la, lb, lc;
    auto layout = [&](MatrixLayout& l, int type, int64_t rows, int64_t cols, int ld, long long stride) {
        l.type = uint32_t(type);
        l.rows = uint64_t(rows);
        l.cols = uint64_t(cols);
        l.ld = ld;
        l.batch = batch > 0 ? batch : 1;
        l.stride = stride;
        return ld >= std::max<int64_t>(1, rows);   // cuBLAS checks lda >= max(1, rows) even for empty products
    };
    if (!layout(la, aType, transa ? k : m, transa ? m : k, lda, strideA) || !layout(lb, bType, transb ? n : k, transb ? k : n, ldb, strideB) ||
        !layout(lc, cType, m, n, ldc, strideC))
        return kInvalidValue;
    Problem p;
    int st = Derive(&desc, &la, &lb, &lc, &lc, p);
    if (st != kSuccess) return st;
    if (batch == 0 || m == 0 || n == 0) return kSuccess;
    float al, be;
    std::memcpy(&al, alpha, 4);
    std::memcpy(&be, beta, 4);
    const uint64_t a = uint64_t(uintptr_t(A)), b = uint64_t(uintptr_t(B)), c = uint64_t(uintptr_t(C));
    if (!c || (k > 0 && (!a || !b))) return kInvalidValue;
    // cuBLAS takes any alignment beyond the element's (what makes it the fallback for cuBLASLt)
    if ((k > 0 && (!Aligned(a, la, p.batch, ElemSize(aType)) || !Aligned(b, lb, p.batch, ElemSize(bType)))) ||
        !Aligned(c, lc, p.batch, ElemSize(cType)))
        return kInvalidValue;
    return Enqueue(h->stream, [=] { Run(p, desc, al, nullptr, be, a, la, b, lb, c, lc, c, lc); });
}

// ---- cuBLASLt ---------------------------------------------------------------------------------------------------

// major·10000 + minor·100 + patch, matching cublasGetProperty.
XDIT_BLAS_EXPORT size_t cublasLtGetVersion() { return 130100; }

XDIT_BLAS_EXPORT int cublasLtCreate(void** handle)
{
    if (!handle) return kInvalidValue;
    *handle = Make<LtHandle>(Kind::Lt);
    return *handle ? kSuccess : kAllocFailed;
}

XDIT_BLAS_EXPORT int cublasLtDestroy(void* handle)
{
    if (!handle) return kNotInitialized;
    return Drop<LtHandle>(handle, Kind::Lt) == kSuccess ? kSuccess : kNotInitialized;
}

namespace
{
    bool ComputeTypeOk(int32_t t) { return t == kCompute32F || t == kCompute32FPedantic; }
    bool ScaleTypeOk(int32_t t) { return t == kR32F; }
}

XDIT_BLAS_EXPORT int cublasLtMatmulDescCreate(void** desc, int computeType, int scaleType)
{
    if (!desc) return kInvalidValue;
    *desc = nullptr;
    if (!ComputeTypeOk(computeType) || !ScaleTypeOk(scaleType)) return kInvalidValue;
    MatmulDesc* d = Make<MatmulDesc>(Kind::Desc);
    if (!d) return kAllocFailed;
    d->computeType = computeType;
    d->scaleType = scaleType;
    *desc = d;
    return kSuccess;
}

XDIT_BLAS_EXPORT int cublasLtMatmulDescDestroy(void* desc) { return Drop<MatmulDesc>(desc, Kind::Desc); }

// cublasLtMatmulDescAttributes_t: COMPUTE_TYPE 0, SCALE_TYPE 1, POINTER_MODE 2, TRANSA 3, TRANSB 4, TRANSC 5,
// FILL_MODE 6, EPILOGUE 7, BIAS_POINTER 8, BIAS_BATCH_STRIDE 10, ALPHA_VECTOR_BATCH_STRIDE 14, BIAS_DATA_TYPE 26.
XDIT_BLAS_EXPORT int cublasLtMatmulDescSetAttribute(void* descHandle, int attr, const void* buf, size_t bytes)
{
    MatmulDesc* d = Find<MatmulDesc>(descHandle, Kind::Desc);
    if (!d) return kInvalidValue;
    int32_t i32 = 0;
    int st = kSuccess;
    switch (attr)
    {
        case 0:
            if ((st = Read(i32, buf, bytes)) != kSuccess) return st;
            if (!ComputeTypeOk(i32)) return kInvalidValue;
            d->computeType = i32;
            return kSuccess;
        case 1:
            if ((st = Read(i32, buf, bytes)) != kSuccess) return st;
            if (!ScaleTypeOk(i32)) return kInvalidValue;
            d->scaleType = i32;
            return kSuccess;
        case 2:
            // HOST 0 and DEVICE 1 scalars are both plain host memory here; of the vector modes only
            // ALPHA_DEVICE_VECTOR_BETA_HOST (4) is implemented, DEVICE_VECTOR (2) and BETA_ZERO (3) are refused.
            if ((st = Read(i32, buf, bytes)) != kSuccess) return st;
            if (i32 != 0 && i32 != 1 && i32 != kPointerAlphaVectorBetaHost) return kNotSupported;
            d->pointerMode = i32;
            return kSuccess;
        case 3:
        case 4:
            if ((st = Read(i32, buf, bytes)) != kSuccess) return st;
            if (i32 < 0 || i32 > 2) return kInvalidValue;   // CUBLAS_OP_N, _T, _C
            (attr == 3 ? d->transA : d->transB) = i32;
            return kSuccess;
        case 5:
            // cuBLASLt only supports CUBLAS_OP_N for C.
            if ((st = Read(i32, buf, bytes)) != kSuccess) return st;
            if (i32 != 0) return kNotSupported;
            d->transC = i32;
            return kSuccess;
        case 6:
            if ((st = Read(i32, buf, bytes)) != kSuccess) return st;
            if (i32 < 0 || i32 > 2) return kInvalidValue;
            d->fillMode = i32;
            return kSuccess;
        case 7: return Read(d->epilogue, buf, bytes);   // checked by the heuristic and matmul, as cuBLASLt does
        case 8: return Read(d->bias, buf, bytes);
        case 10: return Read(d->biasBatchStride, buf, bytes);
        case 14:
            if ((st = Read(d->alphaBatchStride, buf, bytes)) != kSuccess) return st;
            if (d->alphaBatchStride < 0) return kInvalidValue;
            return kSuccess;
        case 26:
            if ((st = Read(i32, buf, bytes)) != kSuccess) return st;
            if (!KnownType(i32)) return kInvalidValue;
            d->biasType = i32;
            return kSuccess;
        default: return kInvalidValue;
    }
}

XDIT_BLAS_EXPORT int cublasLtMatrixLayoutCreate(void** layout, int type, uint64_t rows, uint64_t cols, int64_t ld)
{
    if (!layout) return kInvalidValue;
    *layout = nullptr;
    if (!KnownType(type) || ld < 0 || uint64_t(ld) < rows) return kInvalidValue;
    MatrixLayout* l = Make<MatrixLayout>(Kind::Layout);
    if (!l) return kAllocFailed;
    l->type = uint32_t(type);
    l->rows = rows;
    l->cols = cols;
    l->ld = ld;
    *layout = l;
    return kSuccess;
}

XDIT_BLAS_EXPORT int cublasLtMatrixLayoutDestroy(void* layout) { return Drop<MatrixLayout>(layout, Kind::Layout); }

// cublasLtMatrixLayoutAttribute_t: TYPE 0, ORDER 1, ROWS 2, COLS 3, LD 4, BATCH_COUNT 5, STRIDED_BATCH_OFFSET 6.
// Rows, columns and ld may disagree in between settings; they are checked when the layout is used.
XDIT_BLAS_EXPORT int cublasLtMatrixLayoutSetAttribute(void* layout, int attr, const void* buf, size_t bytes)
{
    MatrixLayout* l = Find<MatrixLayout>(layout, Kind::Layout);
    if (!l) return kInvalidValue;
    int st = kSuccess;
    switch (attr)
    {
        case 0:
        {
            uint32_t t = 0;
            if ((st = Read(t, buf, bytes)) != kSuccess) return st;
            if (!KnownType(t)) return kInvalidValue;
            l->type = t;
            return kSuccess;
        }
        case 1:
        {
            int32_t order = 0;
            if ((st = Read(order, buf, bytes)) != kSuccess) return st;
            if (order < 0 || order > 4) return kInvalidValue;
            if (order != 0) return kNotSupported;   // only CUBLASLT_ORDER_COL
            l->order = order;
            return kSuccess;
        }
        case 2: return Read(l->rows, buf, bytes);
        case 3: return Read(l->cols, buf, bytes);
        case 4: return Read(l->ld, buf, bytes);
        case 5:
        {
            int32_t count = 0;
            if ((st = Read(count, buf, bytes)) != kSuccess) return st;
            if (count < 1) return kInvalidValue;
            l->batch = count;
            return kSuccess;
        }
        case 6: return Read(l->stride, buf, bytes);
        default: return kInvalidValue;
    }
}

XDIT_BLAS_EXPORT int cublasLtMatmulPreferenceCreate(void** pref)
{
    if (!pref) return kInvalidValue;
    *pref = Make<Pref>(Kind::Pref);
    return *pref ? kSuccess : kAllocFailed;
}

XDIT_BLAS_EXPORT int cublasLtMatmulPreferenceDestroy(void* pref) { return Drop<Pref>(pref, Kind::Pref); }

// cublasLtMatmulPreferenceAttributes_t: SEARCH_MODE 0, MAX_WORKSPACE_BYTES 1, REDUCTION_SCHEME_MASK 3,
// MIN_ALIGNMENT_A/B/C/D_BYTES 5-8, MAX_WAVES_COUNT 9, IMPL_MASK 12. Only the alignments change anything.
XDIT_BLAS_EXPORT int cublasLtMatmulPreferenceSetAttribute(void* prefHandle, int attr, const void* buf, size_t bytes)
{
    Pref* p = Find<Pref>(prefHandle, Kind::Pref);
    if (!p) return kInvalidValue;
    switch (attr)
    {
        case 0: return Read(p->searchMode, buf, bytes);
        case 1: return Read(p->maxWorkspace, buf, bytes);
        case 3: return Read(p->reductionMask, buf, bytes);
        case 5:
        case 6:
        case 7:
        case 8: return Read(p->align[attr - 5], buf, bytes);
        case 9: return Read(p->maxWaves, buf, bytes);
        case 12: return Read(p->implMask, buf, bytes);
        default: return kInvalidValue;
    }
}

// cublasLtMatmulAlgo_t (8 × uint64, opaque) and cublasLtMatmulHeuristicResult_t as cublasLt.h lays them out.
struct XditLtAlgo { uint64_t data[8]; };
struct XditLtHeuristicResult
{
    XditLtAlgo algo;
    size_t workspaceSize;
    int state;
    float wavesCount;
    int reserved[4];
};
static_assert(sizeof(XditLtAlgo) == 64 && sizeof(XditLtHeuristicResult) == 96, "cublasLt.h layout");

namespace
{
    std::atomic<int> gRefuse{0};
}

// For the tests of the fallbacks (CudaOps.Gemm): 0 answers every heuristic query, 1 returns no algorithm (with
// CUBLAS_STATUS_SUCCESS) for products with an epilogue, 2 returns CUBLAS_STATUS_NOT_SUPPORTED for every product.
extern "C" __attribute__((visibility("default"))) void xdit_emu_cublaslt_refuse(int mode) { gRefuse.store(mode); }

XDIT_BLAS_EXPORT int cublasLtMatmulAlgoGetHeuristic(void* handle, void* desc, void* aDesc, void* bDesc, void* cDesc,
                                                    void* dDesc, void* prefHandle, int requested,
                                                    XditLtHeuristicResult* results, int* returned)
{
    if (!Find<LtHandle>(handle, Kind::Lt)) return kNotInitialized;
    if (requested < 1 || !results || !returned) return kInvalidValue;
    *returned = 0;
    const Pref defaults;
    const Pref* pref = prefHandle ? Find<Pref>(prefHandle, Kind::Pref) : &defaults;
    if (!pref) return kInvalidValue;
    Problem p;
    const MatrixLayout *la = Find<MatrixLayout>(aDesc, Kind::Layout), *lb = Find<MatrixLayout>(bDesc, Kind::Layout);
    const MatrixLayout *lc = Find<MatrixLayout>(cDesc, Kind::Layout), *ld = Find<MatrixLayout>(dDesc, Kind::Layout);
    const MatmulDesc* d = Find<MatmulDesc>(desc, Kind::Desc);
    int st = Derive(d, la, lb, lc, ld, p);
    if (st != kSuccess) return st;
    // Where a test asked (xdit_emu_cublaslt_refuse), no algorithm, in the two ways cuBLASLt versions say so.
    const int refuse = gRefuse.load();
    if (refuse == 2) return kNotSupported;
    if (refuse == 1 && d->epilogue != kEpiDefault) return kSuccess;
    // One algorithm fits every problem; it needs no workspace.
    std::memset(&results[0], 0, sizeof(XditLtHeuristicResult));
    results[0].algo.data[0] = kAlgoTag;
    for (int i = 0; i < 4; ++i) results[0].algo.data[1] |= uint64_t(Required(pref->align[i]) & 0xffff) << (16 * i);
    results[0].workspaceSize = 0;
    results[0].state = kSuccess;
    results[0].wavesCount = 1.f;
    *returned = 1;
    return kSuccess;
}

XDIT_BLAS_EXPORT int cublasLtMatmul(void* handle, void* descHandle, const void* alpha, uint64_t a, void* aDesc,
                                    uint64_t b, void* bDesc, const void* beta, uint64_t c, void* cDesc, uint64_t d,
                                    void* dDesc, const XditLtAlgo* algo, uint64_t /*workspace*/,
                                    size_t /*workspaceBytes*/, void* stream)
{
    if (!Find<LtHandle>(handle, Kind::Lt)) return kNotInitialized;
    const MatmulDesc* desc = Find<MatmulDesc>(descHandle, Kind::Desc);
    const MatrixLayout *la = Find<MatrixLayout>(aDesc, Kind::Layout), *lb = Find<MatrixLayout>(bDesc, Kind::Layout);
    const MatrixLayout *lc = Find<MatrixLayout>(cDesc, Kind::Layout), *ld = Find<MatrixLayout>(dDesc, Kind::Layout);
    Problem p;
    int st = Derive(desc, la, lb, lc, ld, p);
    if (st != kSuccess) return st;
    if (!alpha || !beta) return kInvalidValue;
    // In the alpha-vector mode alpha points at device memory (one float per row of D and batch), read when it runs.
    const bool alphaVector = desc->pointerMode == kPointerAlphaVectorBetaHost;
    float al = 0.f, be;
    if (!alphaVector) std::memcpy(&al, alpha, 4);
    else if (desc->scaleType != kR32F || reinterpret_cast<uintptr_t>(alpha) % 4 != 0) return kInvalidValue;
    const float* alphaVec = alphaVector ? static_cast<const float*>(alpha) : nullptr;
    std::memcpy(&be, beta, 4);
    if (p.m == 0 || p.n == 0) return kSuccess;

    const bool readsC = be != 0.f;
    const bool readsAB = p.k > 0;
    if (!d || (readsAB && (!a || !b)) || (readsC && !c)) return kInvalidValue;
    // In place (C == D) the two must describe the same memory the same way.
    if (readsC && c == d && (lc->ld != ld->ld || lc->type != ld->type || (p.batch > 1 && lc->stride != ld->stride)))
        return kInvalidValue;
    if (p.bias && !desc->bias) return kInvalidValue;

    // A GPU faults on a load that is not aligned to its element, and may on one that breaks the heuristic's promise.
    uint64_t need[4] = {1, 1, 1, 1};
    if (algo && algo->data[0] == kAlgoTag)
        for (int i = 0; i < 4; ++i) need[i] = (algo->data[1] >> (16 * i)) & 0xffff;
    const MatrixLayout* ls[4] = {la, lb, lc, ld};
    const uint64_t ptrs[4] = {a, b, c, d};
    const bool used[4] = {readsAB, readsAB, readsC, true};
    for (int i = 0; i < 4; ++i)
    {
        if (!used[i]) continue;
        uint64_t elem = ElemSize(int(ls[i]->type));
        if (!Aligned(ptrs[i], *ls[i], p.batch, elem) || !Aligned(ptrs[i], *ls[i], p.batch, need[i])) return kInvalidValue;
    }
    if (p.bias)
    {
        int biasType = desc->biasType == -1 ? int(ld->type) : desc->biasType;
        if (desc->bias % ElemSize(biasType) != 0) return kInvalidValue;
    }

    // the descriptors as they are now: a captured matmul keeps the attributes (the bias pointer) it was enqueued with
    return Enqueue(stream, [=, desc = *desc, la = *la, lb = *lb, lc = *lc, ld = *ld] { Run(p, desc, al, alphaVec, be, a, la, b, lb, c, lc, d, ld); });
}
