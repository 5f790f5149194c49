using XDit.Runtime;

namespace XDit.Kernels.Cuda;

/// <summary>One kernel launch as the host plans it: the kernel, a 2-D grid, a 1-D block and the dynamic shared memory.</summary>
public readonly record struct KernelLaunch(KernelEntry Entry, uint GridX, uint GridY, uint BlockX, uint SharedBytes)
{
    public string Module => Entry.Module;
    public string Kernel => Entry.Name;
}

/// <summary>
/// Fills the attention kernels' arguments and picks the kernel from the views alone, with no device: CudaOps
/// launches what this plans, and the tests run the same plan through the kernel emulator (native/emu) on the CPU.
/// bf16/f16 with head dims up to 128 go to the tensor-core kernel (native/kernels/attention_tc.cuh, one module
/// attention_tc_dN.cu per head dim padded to N of CudaKernels.TensorCoreHeadDims); float32 and larger head dims to the general
/// one (attention.cu).
/// </summary>
public static unsafe class AttentionLaunch
{
    public const int MaxHeadDim = 512;             // attention.cu's ATT_MAXD
    public const int TensorCoreMaxHeadDim = 128;

    const int GeneralWarps = 8, GeneralTile = 32;  // attention.cu's ATT_WARPS, ATT_TILE
    const int TcRows = 64, TcKeys = 64;            // attention_tc.cuh's TC_BM, TC_BN

    /// <summary>The arguments for q, k, v (unit stride on d, one dtype) and a contiguous output o of q's shape;
    /// <paramref name="pointer"/> gives a tensor's address (of its first element) as the kernel will see it.</summary>
    public static AttentionArgs Args(Tensor q, Tensor k, Tensor v, Tensor o, AttentionOptions options, Tensor? lse,
        Func<Tensor, string, ulong> pointer)
    {
        var a = new AttentionArgs
        {
            Q = pointer(q, "q"), K = pointer(k, "k"), V = pointer(v, "v"), O = pointer(o, "output"),
            Lse = lse is null ? 0 : pointer(lse, "lse"),
            KeyBias = options.KeyBias is null ? 0 : pointer(options.KeyBias, "key bias"),
            Bias = options.Bias is null ? 0 : pointer(options.Bias, "bias"),
            B = q.Dim(0), Nq = q.Dim(1), Nk = k.Dim(1), H = q.Dim(2), D = q.Dim(3), DType = (int)q.DType,
            KbDType = (int)(options.KeyBias?.DType ?? XDit.Runtime.DType.F32),
            BiasDType = (int)(options.Bias?.DType ?? XDit.Runtime.DType.F32),
            Causal = options.Causal ? 1 : 0, HasLse = lse is null ? 0 : 1,
            Scale = options.Scale ?? 1f / MathF.Sqrt(q.Dim(3)),
            // clamped: a window past every index sees everything, and the kernels add it to indices
            Window = options.Window is int w ? Math.Min(w, Math.Max(q.Dim(1), k.Dim(1))) : -1,
        };
        for (int i = 0; i < 3; i++)
        {
            a.Qs[i] = q.Strides[i];
            a.Ks[i] = k.Strides[i];
            a.Vs[i] = v.Strides[i];
            a.Os[i] = o.Strides[i];
        }
        if (options.KeyBias is { } kb)
        {
            a.Kbs[0] = kb.Dim(0) == 1 ? 0 : kb.Strides[0];   // [1, Nk]: every batch reads the one row
            a.Kbs[1] = kb.Strides[1];
        }
        if (options.Bias is { } bias)
        {
            a.Bs[0] = bias.Dim(0) == 1 ? 0 : bias.Strides[0];
            for (int i = 1; i < 4; i++) a.Bs[i] = bias.Strides[i];
        }
        return a;
    }

    /// <summary>Whether the tensor-core kernel takes activations of <paramref name="dt"/> with head dim <paramref name="d"/>.</summary>
    public static bool UsesTensorCores(DType dt, int d) => dt is DType.BF16 or DType.F16 && d <= TensorCoreMaxHeadDim;

    /// <summary>The launch for <paramref name="a"/>; <paramref name="tensorCores"/> false forces the general kernel
    /// (the benchmark's baseline).</summary>
    public static KernelLaunch Plan(in AttentionArgs a, bool tensorCores = true)
    {
        var dt = (DType)a.DType;
        if (a.D > MaxHeadDim) throw new NotSupportedException($"Attention: head dim {a.D} > {MaxHeadDim} is not supported by the CUDA kernels");
        if ((long)a.B * a.H > 65535) throw new NotSupportedException($"Attention: batch × heads = {(long)a.B * a.H} exceeds the grid's 65535 rows");
        uint rows = (uint)(a.B * a.H);
        if (tensorCores && UsesTensorCores(dt, a.D))
        {
            int d = a.D, dp = CudaKernels.TensorCoreHeadDims.First(p => p >= d);
            uint smem = (uint)(2 * 2 * TcKeys * (dp + 8) * 2);   // two stages of K and V tiles, rows padded by 8 values
            var kernel = CudaKernels.FlashAttentionTensorCoreFor(dt == XDit.Runtime.DType.BF16, dp);
            return new KernelLaunch(kernel, (uint)((a.Nq + TcRows - 1) / TcRows), rows, 128, smem);
        }
        uint generalSmem = (uint)((GeneralTile * (a.D + 1) + GeneralTile * a.D + GeneralWarps * a.D) * sizeof(float));
        return new KernelLaunch(CudaKernels.FlashAttention, (uint)((a.Nq + GeneralWarps - 1) / GeneralWarps), rows, GeneralWarps * 32, generalSmem);
    }
}
