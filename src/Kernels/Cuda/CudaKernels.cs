namespace XDit.Kernels.Cuda;

/// <summary>
/// Every <c>extern "C" __global__</c> kernel of native/kernels, declared once with its module and parameters in the
/// order of its C signature. KernelEntryTests parses the sources and checks each kernel has exactly one entry here
/// with the same parameters, is registered with the emulator (native/emu) and is launched from C#.
/// </summary>
public static unsafe class CudaKernels
{
    static readonly KernelParam P = KernelParam.Pointer, I = KernelParam.I32, L = KernelParam.I64, F = KernelParam.F32;
    static readonly KernelParam Layout = KernelParam.Struct(sizeof(KernelLayout));          // common.cuh's Layout
    static readonly KernelParam Attn = KernelParam.Struct(sizeof(AttentionArgs));           // attention_args.cuh's AttnArgs

    // ---- copy.cu ----
    public static readonly KernelEntry CopyStrided = new("copy", "copy_strided", P, Layout, P, Layout, L);
    public static readonly KernelEntry Convert = new("copy", "convert", P, I, P, I, L, I);
    public static readonly KernelEntry CopyRows = new("copy", "copy_rows", P, I, L, P, I, L, L, L, I);
    public static readonly KernelEntry EmbeddingGather = new("copy", "embedding_gather", P, I, P, I, P, L, L);
    public static readonly KernelEntry Im2Col = new("copy", "im2col", P, P, I, L, L, L, I, I, I, I, L, L, L);
    public static readonly KernelEntry UpsampleNearest = new("copy", "upsample_nearest", P, P, I, L, L, L, L, L, L, L, L, L, F, F, L);

    // ---- norms.cu ----
    public static readonly KernelEntry LayerNorm = new("norms", "layer_norm", P, P, I, P, I, P, I, L, F);
    public static readonly KernelEntry RmsNorm = new("norms", "rms_norm", P, P, I, P, I, L, F);
    public static readonly KernelEntry GroupNorm = new("norms", "group_norm", P, P, I, P, I, P, I, L, L, I, F, I);
    public static readonly KernelEntry ChannelRmsNorm = new("norms", "channel_rms_norm", P, P, I, P, I, L, L, L, F, I);
    public static readonly KernelEntry SoftmaxRows = new("norms", "softmax_rows", P, I, P, I, L);
    public static readonly KernelEntry LayerNormModulate = new("norms", "layer_norm_modulate", P, P, P, L, I, P, I, L, P, I, L, L, L, F, I);
    public static readonly KernelEntry RmsNormModulate = new("norms", "rms_norm_modulate", P, P, I, P, I, P, I, L, P, I, L, L, L, F, I);
    public static readonly KernelEntry ResidualLayerNormModulate = new("norms", "residual_layer_norm_modulate",
        P, P, P, I, P, I, P, I, L, P, I, L, P, I, L, L, L, F, I);
    public static readonly KernelEntry RmsNormGatedResidual = new("norms", "rms_norm_gated_residual", P, P, I, P, I, P, I, P, I, L, L, L, F, I);
    public static readonly KernelEntry RmsNormRope = new("norms", "rms_norm_rope", P, L, L, L, P, L, L, L, I, P, I, P, P, I, L, L, L, L, F, I);
    public static readonly KernelEntry LayerNormRope = new("norms", "layer_norm_rope", P, L, L, L, P, L, L, L, I, P, I, P, I, P, P, I, L, L, L, L, F, I, L);
    public static readonly KernelEntry RowRmsNormRope = new("norms", "row_rms_norm_rope", P, L, L, P, L, L, I, P, I, P, P, I, L, L, L, F, I);

    // ---- pointwise.cu ----
    public static readonly KernelEntry Activate = new("pointwise", "activate_kernel", P, P, I, L, I, I);
    public static readonly KernelEntry Geglu = new("pointwise", "geglu", P, P, I, L, L, I);
    public static readonly KernelEntry Swiglu = new("pointwise", "swiglu", P, P, I, L, L, I);
    public static readonly KernelEntry ScaleShift = new("pointwise", "scale_shift", P, P, I, L, F, F, I);
    public static readonly KernelEntry BinaryBroadcast = new("pointwise", "binary_bcast", P, I, P, Layout, P, Layout, L, I);
    public static readonly KernelEntry Modulate = new("pointwise", "modulate", P, P, I, P, I, L, P, I, L, L, L, L, I);
    public static readonly KernelEntry GatedResidual = new("pointwise", "gated_residual", P, P, I, P, I, P, I, P, I, L, L, L, L, I);
    public static readonly KernelEntry AddChannelBias = new("pointwise", "add_channel_bias", P, I, P, I, L, L, L, P, I, I);
    public static readonly KernelEntry GateAlphaBias = new("pointwise", "gate_alpha_bias", P, P, I, P, I, L, P, I, L, L);
    public static readonly KernelEntry GateAlphaBiasN = new("pointwise", "gate_alpha_bias_n", P, P, I, I, I, L, L, L, I, P, P, P, P, P, P, P, P);
    public static readonly KernelEntry Rope = new("pointwise", "rope", P, P, I, P, P, I, L, L, L, L, I);
    public static readonly KernelEntry MergeAttention = new("pointwise", "merge_attention", P, P, P, I, P, I, L, L, L, L);
    public static readonly KernelEntry MergeLse = new("pointwise", "merge_lse", P, P, L);

    // ---- conv.cu ----
    public static readonly KernelEntry GroupedConv2d = new("conv", "grouped_conv2d", P, P, I, L, L, L, L, P, I, P, I, L, L, L, L, I, I, I, I, L, L, L);

    // ---- linear_attention.cu ----
    public static readonly KernelEntry LinearAttentionSums = new("linear_attention", "linear_attention_sums", P, P, L, L, L, P, L, L, L, I, L, I, I, I);
    public static readonly KernelEntry LinearAttentionApply = new("linear_attention", "linear_attention_apply", P, P, L, L, L, I, P, L, I, I, F, L);

    // ---- attention.cu ----
    public static readonly KernelEntry FlashAttention = new("attention", "flash_attention", Attn);

    // ---- attention_tc_dN.cu (attention_tc.cuh's TC_KERNELS(N)) ----
    /// <summary>The head dims the tensor-core kernels are built for (one module each); a head dim is padded up to one.</summary>
    public static readonly IReadOnlyList<int> TensorCoreHeadDims = [32, 64, 80, 96, 128];

    /// <summary>flash_attention_tc_{bf16,f16}_dN for every N of <see cref="TensorCoreHeadDims"/>, bf16 first.</summary>
    public static readonly IReadOnlyList<KernelEntry> FlashAttentionTensorCore = TensorCoreHeadDims
        .SelectMany(n => new[] { new KernelEntry($"attention_tc_d{n}", $"flash_attention_tc_bf16_d{n}", Attn),
                                 new KernelEntry($"attention_tc_d{n}", $"flash_attention_tc_f16_d{n}", Attn) })
        .ToArray();

    /// <summary>The tensor-core kernel for head dim <paramref name="paddedHeadDim"/> (one of <see cref="TensorCoreHeadDims"/>).</summary>
    public static KernelEntry FlashAttentionTensorCoreFor(bool bf16, int paddedHeadDim)
    {
        int i = 0;
        while (i < TensorCoreHeadDims.Count && TensorCoreHeadDims[i] != paddedHeadDim) i++;
        if (i == TensorCoreHeadDims.Count)
            throw new ArgumentOutOfRangeException(nameof(paddedHeadDim), $"no tensor-core attention kernel for head dim {paddedHeadDim}");
        return FlashAttentionTensorCore[2 * i + (bf16 ? 0 : 1)];
    }

    // ---- linear_norm_rope.cu (LNR_KERNELS(D)) ----
    /// <summary>The head dims the GEMM with a per-head norm and rotation in its epilogue is built for.</summary>
    public static readonly IReadOnlyList<int> LinearNormRopeHeadDims = [64, 128];

    /// <summary>linear_{rms,layer}_norm_rope_{bf16,f16}_dD for every D of <see cref="LinearNormRopeHeadDims"/>, in that order.</summary>
    public static readonly IReadOnlyList<KernelEntry> LinearNormRope = LinearNormRopeHeadDims
        .SelectMany(d => new[] { "rms", "layer" }.SelectMany(norm => new[] { "bf16", "f16" }.Select(t => new KernelEntry("linear_norm_rope",
            $"linear_{norm}_norm_rope_{t}_d{d}", P, L, L, P, L, L, P, P, P, I, P, I, L, P, P, I, L, L, I, I, I, F))))
        .ToArray();

    /// <summary>The fused kernel for head dim <paramref name="d"/> with a LayerNorm (else RMSNorm), or null when none is
    /// built for it.</summary>
    public static KernelEntry? LinearNormRopeFor(bool layerNorm, bool bf16, int d)
    {
        int i = 0;
        while (i < LinearNormRopeHeadDims.Count && LinearNormRopeHeadDims[i] != d) i++;
        return i == LinearNormRopeHeadDims.Count ? null : LinearNormRope[4 * i + (layerNorm ? 2 : 0) + (bf16 ? 0 : 1)];
    }

    /// <summary>Every entry above.</summary>
    public static IReadOnlyList<KernelEntry> All { get; } =
    [
        CopyStrided, Convert, CopyRows, EmbeddingGather, Im2Col, UpsampleNearest,
        LayerNorm, RmsNorm, GroupNorm, ChannelRmsNorm, SoftmaxRows, LayerNormModulate, RmsNormModulate, ResidualLayerNormModulate, RmsNormGatedResidual, RmsNormRope, LayerNormRope, RowRmsNormRope,
        Activate, ScaleShift, BinaryBroadcast, Modulate, GatedResidual, GateAlphaBias, GateAlphaBiasN, AddChannelBias, Rope, MergeAttention, MergeLse,
        GroupedConv2d, LinearAttentionSums, LinearAttentionApply,
        Geglu, Swiglu,
        FlashAttention, .. FlashAttentionTensorCore, .. LinearNormRope,
    ];
}
