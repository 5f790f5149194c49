using XDit.Runtime;

namespace XDit.Kernels;

/// <summary>Pointwise activations, also used as GEMM epilogues. Tanh is Mochi's gate squashing (tanh(gate_msa)).</summary>
public enum Activation { None, Gelu, GeluTanh, Silu, QuickGelu, Relu, Tanh }

/// <summary>Options of <see cref="IOps.Attention"/>.</summary>
public sealed record AttentionOptions
{
    /// <summary>Softmax scale; null means 1/sqrt(head_dim).</summary>
    public float? Scale { get; init; }
    /// <summary>Additive bias per key, shape [B, Nk], or [1, Nk] shared by every batch (PixArt's −10000 on padded
    /// text keys, T5/CLIP padding).</summary>
    public Tensor? KeyBias { get; init; }
    /// <summary>Additive bias per (head, query, key), shape [B or 1, H, Nq, Nk] (T5's relative position bias).</summary>
    public Tensor? Bias { get; init; }
    /// <summary>Key j is hidden from query i when j > i (CLIP's causal mask).</summary>
    public bool Causal { get; init; }
    /// <summary>Band window: key j is hidden from query i when |i − j| > Window, on the tokens' 1-D indices
    /// (flash-attn's window_size = (w, w), DiTFastAttn's window attention). Null: every key is seen. Kernels skip
    /// the keys outside the band, so the cost falls with the window.</summary>
    public int? Window { get; init; }
}

/// <summary>
/// The op set every model is written against. CpuOps is the float32 reference; CudaOps runs the same ops on the
/// GPU. Every op that returns a tensor allocates it from the backend's arena: the caller owns it and disposes it.
/// Inputs may be strided views unless an op says "contiguous". Shapes and dtypes are checked by the op's entry in
/// <see cref="OpContracts"/>, which both backends call first, and mismatches throw <see cref="ArgumentException"/>
/// naming the op and both shapes.
/// </summary>
public interface IOps : IDisposable
{
    /// <summary>"cpu" or "cuda:0".</summary>
    string Name { get; }
    /// <summary>The dtype activations are kept in (F32 on the CPU).</summary>
    DType ActivationType { get; }
    IAllocator Allocator { get; }
    /// <summary>What ran another way than planned so far, one line each (a GEMM without its cuBLASLt epilogue, a
    /// convolution as im2col + GEMM): the commands print these under their timings. Empty when all went as planned.</summary>
    IReadOnlyList<string> FallbackNotes();

    // ---- memory ----
    /// <summary>Uninitialised tensor from the arena.</summary>
    Tensor Empty(DType dtype, params int[] shape);
    Tensor Zeros(DType dtype, params int[] shape);
    /// <summary>Tensor in <see cref="ActivationType"/> holding these float values.</summary>
    Tensor FromHost(ReadOnlySpan<float> data, params int[] shape);
    /// <summary>Moves a host tensor (any dtype, e.g. a weight read from safetensors) to this backend. The CPU
    /// backend converts floats to F32; CUDA keeps the weight's dtype.</summary>
    Tensor Upload(Tensor host);
    /// <summary>Float32 copy of any tensor, in logical row-major order.</summary>
    float[] ToHost(Tensor t);

    // ---- GEMM ----
    /// <summary>y = act(x·Wᵀ + b). x [..., K], w [N, K] (PyTorch Linear layout), bias [N] → [..., N].</summary>
    Tensor Linear(Tensor x, Tensor w, Tensor? bias = null, Activation act = Activation.None);
    /// <summary>y = x·Wᵀ + b written into <paramref name="y"/>, a view [..., N] with x's leading axes and dtype:
    /// a GEMM that writes where its consumer reads (each stream's Q/K/V rows of one joint tensor), no copy after.
    /// x and y may be strided views with dense rows (<see cref="OpContracts.LinearInto"/>).</summary>
    void LinearInto(Tensor y, Tensor x, Tensor w, Tensor? bias = null);
    /// <summary>Batched matrix product alpha·A·B (or A·Bᵀ). a [..., M, K]; b [..., K, N] or, with transposeB,
    /// [..., N, K]. The leading dims of b equal those of a, or b is 2-D and shared by every batch.</summary>
    Tensor MatMul(Tensor a, Tensor b, bool transposeB = false, float alpha = 1f);

    // ---- normalisation ----
    /// <summary>LayerNorm over the last axis (biased variance); weight and bias optional.</summary>
    Tensor LayerNorm(Tensor x, Tensor? weight, Tensor? bias, float eps);
    /// <summary>x·rsqrt(mean(x²)+eps)·weight over the last axis; weight optional.</summary>
    Tensor RmsNorm(Tensor x, Tensor? weight, float eps);
    /// <summary>GroupNorm of x [B, C, ...spatial] in <paramref name="groups"/> groups, per-channel affine optional,
    /// then <paramref name="act"/> on the result in the same pass: act(GroupNorm(x)) equals Activate(GroupNorm(x), act)
    /// without writing the norm out and reading it back (the ResNets' SiLU(GN(x))).</summary>
    Tensor GroupNorm(Tensor x, int groups, Tensor? weight, Tensor? bias, float eps, Activation act = Activation.None);
    /// <summary>RMSNorm over the channel axis of x [B, C, ...spatial] at every spatial position, channels-first in
    /// and out: y[b, c, s] = act(x[b, c, s]·rsqrt(mean_c(x[b, ·, s]²) + eps)·weight[c]), statistics in float32,
    /// weight [C] optional, then <paramref name="act"/> in the same pass (Wan's VAE: WanRMS_norm then SiLU). Equals
    /// RmsNorm over x with C moved last, moved back, without either move (<see cref="OpContracts.ChannelRmsNorm"/>).</summary>
    Tensor ChannelRmsNorm(Tensor x, Tensor? weight, float eps, Activation act = Activation.None);
    /// <summary>Softmax over the last axis.</summary>
    Tensor Softmax(Tensor x);
    /// <summary>LN(x)·(1 + scale) + shift in one pass: LayerNorm over the last axis without affine, then
    /// <see cref="Modulate"/> (AdaLayerNormZero's norm). x [B, N, D]; shift and scale per batch as Modulate takes
    /// them; a strided view with a dense last axis (a chunk of a packed modulation) is read in place
    /// (<see cref="OpContracts.LayerNormModulate"/>). With <paramref name="x2"/> [B, N, D2] the row normed is the
    /// concatenation [x, x2] along the last axis, read from both without building it (HunyuanDiT's long skip:
    /// skip_norm(cat[x, skip])), the result [B, N, D + D2], shift and scale of that width.</summary>
    Tensor LayerNormModulate(Tensor x, Tensor shift, Tensor scale, float eps, Tensor? x2 = null);
    /// <summary>The RMS twin of <see cref="LayerNormModulate"/>: RMSNorm(x)·weight·(1 + scale) + shift in one pass,
    /// RMSNorm over the last axis with its optional weight [D], then <see cref="Modulate"/> (LTX-Video's norm1/norm2,
    /// Mochi's and Z-Image's modulated norms). x [B, N, D]; shift and scale per batch as Modulate takes them, a strided
    /// view with a dense last axis read in place; a null shift is a zero one (a scale-only modulation). Statistics in
    /// float32; the norm is not rounded to x's dtype before the modulation (<see cref="OpContracts.RmsNormModulate"/>).</summary>
    Tensor RmsNormModulate(Tensor x, Tensor? weight, Tensor? shift, Tensor scale, float eps);
    /// <summary>A block's residual and the next norm in one pass: r = x + gate·y (x + y when gate is null), as
    /// <see cref="GatedResidual"/>, and LayerNormModulate(r, shift, scale, eps). Returns both; the caller owns
    /// them (<see cref="OpContracts.ResidualLayerNormModulate"/>).</summary>
    (Tensor Residual, Tensor Normed) ResidualLayerNormModulate(Tensor x, Tensor? gate, Tensor y, Tensor shift, Tensor scale, float eps);

    // ---- pointwise ----
    Tensor Activate(Tensor x, Activation act);
    /// <summary>a + b with b broadcast to a's shape (NumPy rules, b's rank ≤ a's).</summary>
    Tensor Add(Tensor a, Tensor b);
    /// <summary>a · b with b broadcast to a's shape.</summary>
    Tensor Mul(Tensor a, Tensor b);
    /// <summary>x·scale + shift, elementwise with two scalars.</summary>
    Tensor Scale(Tensor x, float scale, float shift = 0f);
    /// <summary>x·(1 + scale) + shift. x [B, N, D]; shift and scale [B, D] (or [D]), broadcast over tokens.</summary>
    Tensor Modulate(Tensor x, Tensor shift, Tensor scale);
    /// <summary>x + gate·y, or x + gate·(y + y2) when <paramref name="y2"/> is given (a projection of a
    /// concatenated input computed as the sum of its parts' GEMMs: Flux's single-block proj_out). x, y, y2
    /// [B, N, D]; gate [B, D] (or [D]) broadcast over tokens.</summary>
    Tensor GatedResidual(Tensor x, Tensor gate, Tensor y, Tensor? y2 = null);
    /// <summary>x + gate·(RMSNorm(y)·weight) over the last axis, in one pass: a block's output projection normed and
    /// added through its gate (Mochi's and Z-Image's norm after the projection), so the normed projection is never
    /// written out and read back. x and y [B, N, D]; gate as <see cref="GatedResidual"/> takes it, or null (a gate of
    /// 1); weight [D] or null (<see cref="OpContracts.RmsNormGatedResidual"/>). Equal to
    /// GatedResidual(x, gate, RmsNorm(y, weight, eps)), or Add without a gate.</summary>
    Tensor RmsNormGatedResidual(Tensor x, Tensor? gate, Tensor y, Tensor? weight, float eps);
    /// <summary>GEGLU's gate product in one pass: x [..., 2F] (a feed-forward's projection, hidden then gate along
    /// the last axis, any strides) → x[..., :F]·GELU(x[..., F:]) [..., F] (erf GELU), in x's dtype, computed in
    /// float32. Equals Mul(hidden, Activate(gate, Gelu)) without writing either half or the GELU out on its own
    /// (<see cref="OpContracts.Geglu"/>).</summary>
    Tensor Geglu(Tensor x);
    /// <summary>SwiGLU's gate product in one pass (Flux 2's feed-forwards): x [..., 2F] (gate then value along the last
    /// axis, any strides) → SiLU(x[..., :F])·x[..., F:] [..., F], in x's dtype, computed in float32
    /// (<see cref="OpContracts.Swiglu"/>).</summary>
    Tensor Swiglu(Tensor x);
    /// <summary>y = per-head RMSNorm (weight [d], or [G, d]: a row for each group of H/G heads) then the rotation of
    /// x·Wᵀ + b, written into <paramref name="y"/>: a projection to heads with its q/k norm and RoPE in the GEMM's
    /// epilogue (Flux's q and k of a stream in one call, norm weights stacked [2, d]), so the projection is never
    /// written out and read back. x [B, N, K]; w [H·d, K]; bias [H·d]; y [B, N, H, d], a view with dense heads (the
    /// q/k columns of a packed QKV tensor); cos and sin [N, d], or [N, (H/G)·d] with angles of each head of a group
    /// (Mochi's), or both null (the norm alone); interleaved as
    /// <see cref="Rope"/> (<see cref="OpContracts.LinearRmsNormRopeInto"/>). Equal to LinearInto then
    /// <see cref="RmsNormRope"/> per group of heads.</summary>
    void LinearRmsNormRopeInto(Tensor y, Tensor x, Tensor w, Tensor? bias, Tensor? weight, Tensor? cos, Tensor? sin, float eps, bool interleaved);
    /// <summary>The LayerNorm twin of <see cref="LinearRmsNormRopeInto"/> (biased variance; the norm's weight and
    /// bias [d] or [G, d], each optional; tables [N, d]): CogVideoX's q and k of a stream, each with its own norm
    /// (<see cref="OpContracts.LinearLayerNormRopeInto"/>). Equal to LinearInto then <see cref="LayerNormRope"/>.</summary>
    void LinearLayerNormRopeInto(Tensor y, Tensor x, Tensor w, Tensor? bias, Tensor? weight, Tensor? normBias, Tensor? cos, Tensor? sin, float eps, bool interleaved);
    /// <summary>x ← x + gate·(y·Wᵀ + b) in place: a block's output projection with its gated residual in the GEMM's
    /// epilogue, so the projection is never written out and read back. x [B, N, D]; y [B, N, K] of x's dtype;
    /// w [D, K]; bias [D]; gate per batch as <see cref="GatedResidual"/> takes it
    /// (<see cref="OpContracts.LinearGatedResidualInto"/>). Equal to GatedResidual(x, gate, Linear(y, w, bias))
    /// copied into x. With <paramref name="output"/> (x's shape and dtype, contiguous, not overlapping x) the sum is
    /// written there and x is only read: a residual that a LayerNorm reads next, which must keep x for nothing.
    /// A null <paramref name="gate"/> is a gate of 1, the plain residual x + (y·Wᵀ + b) (PixArt's cross-attention).</summary>
    void LinearGatedResidualInto(Tensor x, Tensor y, Tensor w, Tensor? bias, Tensor? gate, Tensor? output = null);
    /// <summary>Announces the (gate, bias) pairs of the <see cref="LinearGatedResidualInto"/> calls that follow (a
    /// block's gated GEMMs, their gates chunks of one modulation): a backend may compute what their epilogues need
    /// from the gates (CUDA: alpha in F32 and the bias times the gate) for all of them in one pass, and reuse it for
    /// a call given the very same gate and bias tensors until the returned scope is disposed. The gates must not be
    /// written inside the scope. Results are the same with or without it (<see cref="OpContracts.PrepareGatedEpilogues"/>).</summary>
    IDisposable PrepareGatedEpilogues((Tensor Gate, Tensor? Bias)[] epilogues);

    // ---- attention ----
    /// <summary>
    /// softmax(Q·Kᵀ·scale + biases)·V per head. q [B, Nq, H, d]; k and v both [B, Nk, H, d]: the same batch, head
    /// count and head dim as q (no grouped-query heads, no value head dim of its own), any Nk. KeyBias [B, Nk] or
    /// [1, Nk]; Bias [B, H, Nq, Nk] or [1, H, Nq, Nk]; Window ≥ 0. Returns [B, Nq, H, d]. When <paramref name="lse"/>
    /// is given (a contiguous F32 [B, H, Nq]) it receives the natural log-sum-exp of each row's scaled, biased scores
    /// (for merging partial attentions). A row whose keys are all masked by −∞ yields zeros and lse −∞. The contract
    /// is <see cref="OpContracts.Attention"/>; anything else throws ArgumentException on every backend.
    /// </summary>
    Tensor Attention(Tensor q, Tensor k, Tensor v, AttentionOptions? options = null, Tensor? lse = null);
    /// <summary>Merges a partial attention result into an accumulator, in place: given (o1, lse1) over one key
    /// set and (o2, lse2) over a disjoint one, writes the result over the union into o1/lse1.
    /// o [B, N, H, d]; lse [B, H, N]; o1 and lse1 contiguous, lse1 F32 (<see cref="OpContracts.MergeAttention"/>).</summary>
    void MergeAttention(Tensor o1, Tensor lse1, Tensor o2, Tensor lse2);

    /// <summary>Rotary embedding on x [B, N, H, d] with tables cos, sin [N, d] (same angle repeated per pair as
    /// the table says). Interleaved (Flux): pairs (2i, 2i+1) rotate: out[2i] = x[2i]·cos[2i] − x[2i+1]·sin[2i],
    /// out[2i+1] = x[2i+1]·cos[2i+1] + x[2i]·sin[2i+1]. Not interleaved (rotate-half, GPT-NeoX): pairs (i, i+d/2).</summary>
    Tensor Rope(Tensor x, Tensor cos, Tensor sin, bool interleaved);
    /// <summary>Per-head RMSNorm over d (weight [d], optional) then <see cref="Rope"/>, in one pass, written into
    /// <paramref name="y"/> (Flux's q/k norm and rotation). x and y [B, N, H, d] views with a dense last axis
    /// (strided q/k of a packed QKV tensor); y may be x (in place), of x's dtype. d ≤ 512
    /// (<see cref="OpContracts.RmsNormRope"/>). With neither table (cos and sin null) the RMSNorm alone, written into
    /// y in that one pass (SD3.5's qk-norm in place: no dense copy, no copy back).</summary>
    void RmsNormRope(Tensor y, Tensor x, Tensor? weight, Tensor? cos, Tensor? sin, float eps, bool interleaved);
    /// <summary>Per-head LayerNorm over d (biased variance; weight and bias [d], each optional) then <see cref="Rope"/>,
    /// in one pass, written into <paramref name="y"/> (HunyuanDiT's q/k norm with affine and its 2-D rotation). The
    /// LayerNorm twin of <see cref="RmsNormRope"/>, with its shapes: x and y [B, N, H, d] views with a dense last axis
    /// (q/k of a packed QKV tensor, read in place), y may be x, of x's dtype, d even and ≤ 512; with neither table
    /// the LayerNorm alone. Weight and bias may also be [G, d], a row for each group of H/G heads: q and k of a packed
    /// QKV viewed as one [B, N, 2H, d] tensor, each with its own norm, in one launch
    /// (<see cref="OpContracts.LayerNormRope"/>).</summary>
    void LayerNormRope(Tensor y, Tensor x, Tensor? weight, Tensor? bias, Tensor? cos, Tensor? sin, float eps, bool interleaved);
    /// <summary>RMSNorm over each token's whole row of H·d features (all heads at once: qk_norm
    /// "rms_norm_across_heads", Wan's and LTX-Video's q and k; weight [H·d], optional), then each head's
    /// <see cref="Rope"/> with the token's table row, in one pass, written into <paramref name="y"/>. x and y
    /// [B, N, H, d] views with dense heads (the last two axes contiguous: a projection's output, or q/k of a packed
    /// QKV tensor), y may be x (in place), of x's dtype, d even; cos and sin [N, d], or both null (the RMSNorm alone).
    /// Equals RmsNorm of x viewed [B, N, H·d], then Rope (<see cref="OpContracts.RmsNormAcrossHeadsRope"/>).</summary>
    void RmsNormAcrossHeadsRope(Tensor y, Tensor x, Tensor? weight, Tensor? cos, Tensor? sin, float eps, bool interleaved);

    /// <summary>The key/value half of ReLU linear attention (SANA's SanaLinearAttnProcessor2_0, DC-AE's
    /// SanaMultiscaleLinearAttention), split from <see cref="LinearAttentionApply"/> so that sequence parallelism
    /// can all-reduce (sum) the result over the ranks' token slices. k and v [B, N, H, D] (any strides: a reshaped
    /// [B, N, H·D] projection, or a permuted channels-first view); returns per (batch, head) the float32 sums
    /// S [B, H, D + 1, D] with S[e, d] = Σ_j v'[j, e]·relu(k[j, d]), where v' is v with a ones column appended
    /// (S[D, d] = Σ_j relu(k[j, d]), the normaliser). N may be 0 (all zeros) (<see cref="OpContracts.LinearAttentionSums"/>).</summary>
    Tensor LinearAttentionSums(Tensor k, Tensor v);
    /// <summary>The query half of ReLU linear attention: out[b, i, h, e] = (Σ_d S[e, d]·relu(q[b, i, h, d])) /
    /// (Σ_d S[D, d]·relu(q[b, i, h, d]) + eps), computed in float32 (diffusers uses eps 1e-15) and stored in q's
    /// dtype. q [B, N, H, D] (any strides); sums F32 [B, H, D + 1, D] from <see cref="LinearAttentionSums"/> (summed
    /// over every token of the sequence); returns [B, N, H, D] (<see cref="OpContracts.LinearAttentionApply"/>).</summary>
    Tensor LinearAttentionApply(Tensor q, Tensor sums, float eps);

    // ---- convolution and resampling ----
    /// <summary>2-D convolution. x [B, C, H, W], w [O, C, kh, kw], bias [O]; square stride and zero padding. With
    /// <paramref name="residual"/> (the output's shape [B, O, oh, ow], or [B, O, 1, 1]: a term per batch and channel
    /// broadcast over the pixels) conv + bias + residual, added where the bias is, so no sum is a pass of its own
    /// (the ResNets' shortcut and time embedding) (<see cref="OpContracts.Conv2d"/>).</summary>
    Tensor Conv2d(Tensor x, Tensor w, Tensor? bias, int stride = 1, int padding = 0, Tensor? residual = null);
    /// <summary>Grouped 2-D convolution, stride 1, zero padding (PyTorch Conv2d with groups): x [B, C, H, W], w
    /// [O, C/groups, kh, kw], bias [O]; output channel o reads the input channels of its group
    /// g = o / (O/groups), that is g·C/groups … (g+1)·C/groups − 1. Depth-wise is groups = C with w [C, 1, k, k]
    /// (SANA's and DC-AE's GLUMBConv conv_depth, DC-AE's multiscale proj_in); DC-AE's proj_out is a 1×1 with
    /// groups = 3·heads. Returns [B, O, H + 2p − kh + 1, W + 2p − kw + 1] in x's dtype, accumulated in float32
    /// (<see cref="OpContracts.GroupedConv2d"/>).</summary>
    Tensor GroupedConv2d(Tensor x, Tensor w, Tensor? bias, int groups, int padding);
    /// <summary>Nearest-neighbour 2× upsampling of [B, C, H, W].</summary>
    Tensor Upsample2x(Tensor x);
    /// <summary>Nearest-neighbour resize of x [B, C, H, W] to [B, C, height, width], as PyTorch's
    /// F.interpolate(mode="nearest", size=(height, width)): output row i reads input row min(⌊i·s⌋, H − 1) with
    /// s = H/height in float32 (columns likewise). diffusers' Upsample2D takes this form when the UNet forwards the
    /// skip state's size (a latent not a multiple of 2^upsamplers: the size is 2h or 2h − 1). Returns x's dtype
    /// (<see cref="OpContracts.UpsampleNearest"/>).</summary>
    Tensor UpsampleNearest(Tensor x, int height, int width);

    // ---- layout ----
    /// <summary>Fresh contiguous copy of a (possibly strided) view.</summary>
    Tensor Contiguous(Tensor x);
    /// <summary>Copies src into dst elementwise; equal shapes, any strides, dtype converted if they differ.</summary>
    void Copy(Tensor dst, Tensor src);
    /// <summary>Concatenation along an axis; all other dims equal.</summary>
    Tensor Concat(int axis, params Tensor[] xs);
    /// <summary>[B, C, H, W] → [B, (H/p)·(W/p), C·p·p], tokens row-major over the patch grid. Features in
    /// (c, a, b) order when <paramref name="channelsFirst"/> (Conv2d weight flattening, Flux packing), else (a, b, c).</summary>
    Tensor Patchify(Tensor x, int p, bool channelsFirst = true);
    /// <summary>Inverse of <see cref="Patchify"/>: [B, gh·gw, C·p·p] → [B, C, gh·p, gw·p]. PixArt/SD3 proj_out
    /// features are (a, b, c) (channelsFirst false); Flux unpacking is (c, a, b).</summary>
    Tensor Unpatchify(Tensor x, int p, int channels, int gridH, int gridW, bool channelsFirst = false);

    // ---- embeddings and casts ----
    /// <summary>diffusers get_timestep_embedding: for each t, e_k = exp(−ln(maxPeriod)·k/(half − shift)),
    /// a = t·e·scale, emb = [sin a, cos a], or [cos a, sin a] when flipSinToCos. Returns [n, dim] float32.</summary>
    Tensor TimestepEmbedding(ReadOnlySpan<float> t, int dim, bool flipSinToCos = true, float downscaleFreqShift = 0f, float scale = 1f, float maxPeriod = 10000f);
    /// <summary>Rows of table [V, D] picked by ids → [ids.Length, D].</summary>
    Tensor Embedding(Tensor table, ReadOnlySpan<long> ids);
    Tensor Cast(Tensor x, DType dtype);
}
