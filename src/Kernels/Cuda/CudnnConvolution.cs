using XDit.Runtime;
using XDit.Runtime.Cuda;
using XDit.Runtime.Cuda.Interop;
using static XDit.Runtime.Cuda.Interop.CudnnEnums;

namespace XDit.Kernels.Cuda;

/// <summary>
/// Forward 2-D convolution (cross-correlation, as PyTorch) through cuDNN's legacy API: NCHW tensors, float32
/// compute. F32 data uses FMA math (no TF32, float tolerance); BF16/F16 use tensor cores. Descriptors and the
/// algorithm (first heuristic choice that fits the workspace, or none) are cached per shape.
/// </summary>
public sealed unsafe class CudnnConvolution : IDisposable
{
    readonly nint _handle;
    readonly Dictionary<ConvKey, ConvPlan> _plans = new();

    public CudnnConvolution(nint stream)
    {
        CudaLibraries.Require(CudaLibraries.CudnnSpec);
        nint h;
        Check.Cudnn(Cudnn.cudnnCreate(&h), "cudnnCreate");
        _handle = h;
        Check.Cudnn(Cudnn.cudnnSetStream(h, stream), "cudnnSetStream");
    }

    readonly record struct ConvKey(DType DType, int N, int C, int H, int W, int O, int Kh, int Kw, int Stride, int Pad);

    sealed class ConvPlan
    {
        public nint X, Wt, Conv, Y;
        public int Algo;
        public long WorkspaceBytes;
    }

    static int DataType(DType t) => t switch
    {
        DType.F32 => Float,
        DType.F16 => CudnnEnums.Half,
        DType.BF16 => BFloat16,
        _ => throw new NotSupportedException($"convolution on {t} tensors"),
    };

    /// <summary>Workspace bytes the plan for this shape needs (building the plan if new), or -1 when cuDNN has no
    /// algorithm for it (remembered; the caller computes the convolution another way).</summary>
    public long WorkspaceFor(DType dtype, int n, int c, int h, int w, int o, int kh, int kw, int stride, int pad, long available)
    {
        var plan = Get(new ConvKey(dtype, n, c, h, w, o, kh, kw, stride, pad), available);
        return plan.Algo < 0 ? -1 : plan.WorkspaceBytes;
    }

    /// <summary>y = conv(x, w); x [n, c, h, w], w [o, c, kh, kw], y [n, o, oh, ow], all contiguous, one dtype.</summary>
    public void Forward(DType dtype, int n, int c, int h, int w, int o, int kh, int kw, int stride, int pad,
        ulong x, ulong wt, ulong y, ulong workspace, long workspaceBytes)
    {
        var key = new ConvKey(dtype, n, c, h, w, o, kh, kw, stride, pad);
        var plan = Get(key, workspaceBytes);
        if (plan.Algo < 0) throw new CudaException("cudnnGetConvolutionForwardAlgorithm_v7", 3000, "CUDNN_STATUS_NOT_SUPPORTED", $"no algorithm for {key}");
        float alpha = 1f, beta = 0f;
        Check.Cudnn(Cudnn.cudnnConvolutionForward(_handle, &alpha, plan.X, x, plan.Wt, wt, plan.Conv, plan.Algo,
            workspace, (nuint)plan.WorkspaceBytes, &beta, plan.Y, y), "cudnnConvolutionForward");
    }

    ConvPlan Get(ConvKey key, long available)
    {
        lock (_plans)
        {
            if (_plans.TryGetValue(key, out var p)) return p;
            p = Build(key, available);
            _plans[key] = p;
            return p;
        }
    }

    ConvPlan Build(ConvKey k, long available)
    {
        int dt = DataType(k.DType);
        int oh = (k.H + 2 * k.Pad - k.Kh) / k.Stride + 1, ow = (k.W + 2 * k.Pad - k.Kw) / k.Stride + 1;
        var p = new ConvPlan();
        nint x, wt, conv, y;
        Check.Cudnn(Cudnn.cudnnCreateTensorDescriptor(&x), "cudnnCreateTensorDescriptor");
        Check.Cudnn(Cudnn.cudnnSetTensor4dDescriptor(x, FormatNchw, dt, k.N, k.C, k.H, k.W), "cudnnSetTensor4dDescriptor(x)");
        Check.Cudnn(Cudnn.cudnnCreateFilterDescriptor(&wt), "cudnnCreateFilterDescriptor");
        Check.Cudnn(Cudnn.cudnnSetFilter4dDescriptor(wt, dt, FormatNchw, k.O, k.C, k.Kh, k.Kw), "cudnnSetFilter4dDescriptor");
        Check.Cudnn(Cudnn.cudnnCreateConvolutionDescriptor(&conv), "cudnnCreateConvolutionDescriptor");
        Check.Cudnn(Cudnn.cudnnSetConvolution2dDescriptor(conv, k.Pad, k.Pad, k.Stride, k.Stride, 1, 1, CrossCorrelation, Float), "cudnnSetConvolution2dDescriptor");
        Check.Cudnn(Cudnn.cudnnSetConvolutionMathType(conv, k.DType == DType.F32 ? MathFma : MathTensorOp), "cudnnSetConvolutionMathType");
        Check.Cudnn(Cudnn.cudnnCreateTensorDescriptor(&y), "cudnnCreateTensorDescriptor");
        Check.Cudnn(Cudnn.cudnnSetTensor4dDescriptor(y, FormatNchw, dt, k.N, k.O, oh, ow), "cudnnSetTensor4dDescriptor(y)");
        p.X = x; p.Wt = wt; p.Conv = conv; p.Y = y;

        const int want = 8;
        var perf = stackalloc CudnnConvFwdAlgoPerf[want];
        int returned = 0;
        Check.Cudnn(Cudnn.cudnnGetConvolutionForwardAlgorithm_v7(_handle, x, wt, conv, y, want, &returned, perf), "cudnnGetConvolutionForwardAlgorithm_v7");
        int best = -1;
        long bestWs = 0;
        for (int i = 0; i < returned; i++)
        {
            if (perf[i].Status != 0) continue;
            // F32 runs are parity runs (1e-5 against CpuOps, 1e-4 on fixtures): the FFT algorithms (4, 5) round
            // through a frequency-domain transform and miss that; IMPLICIT_GEMM (0) is always among the answers.
            if (k.DType == DType.F32 && perf[i].Algo is FwdAlgoFft or FwdAlgoFftTiling) continue;
            nuint ws;
            if (Cudnn.cudnnGetConvolutionForwardWorkspaceSize(_handle, x, wt, conv, y, perf[i].Algo, &ws) != 0) continue;
            if (best < 0) { best = perf[i].Algo; bestWs = (long)ws; }
            if ((long)ws <= available) { best = perf[i].Algo; bestWs = (long)ws; break; }
        }
        p.Algo = best;   // -1: none
        p.WorkspaceBytes = bestWs;
        return p;
    }

    public void Dispose()
    {
        lock (_plans)
        {
            foreach (var p in _plans.Values)
            {
                Cudnn.cudnnDestroyTensorDescriptor(p.X);
                Cudnn.cudnnDestroyFilterDescriptor(p.Wt);
                Cudnn.cudnnDestroyConvolutionDescriptor(p.Conv);
                Cudnn.cudnnDestroyTensorDescriptor(p.Y);
            }
            _plans.Clear();
        }
        Cudnn.cudnnDestroy(_handle);
    }
}
