using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Tests.Kernels;

/// <summary>Tensors for one bad call on one backend: zeros of the given shapes in the backend's memory, disposed
/// with the bench (views of them are not).</summary>
public sealed class OpBench(IOps ops) : IDisposable
{
    readonly List<Tensor> _made = [];

    public IOps Ops => ops;

    public Tensor T(params int[] shape) => T(DType.F32, shape);

    public Tensor T(DType dt, params int[] shape)
    {
        var t = ops.Zeros(dt, shape);
        _made.Add(t);
        return t;
    }

    public void Dispose()
    {
        foreach (var t in _made) t.Dispose();
    }
}

/// <summary>
/// Inputs that break an op's contract (<see cref="OpContracts"/>), one per violation: wrong ranks, mismatched dims,
/// wrong dtypes and layouts, bad options. Every backend must refuse each with the same ArgumentException; the name
/// is "Op: what is wrong", and the message must start with "Op:".
/// </summary>
public static class OpContractCases
{
    const int B = 2, Nq = 5, Nk = 7, H = 3, d = 8;

    public static readonly IReadOnlyDictionary<string, Func<OpBench, object?>> All = new Dictionary<string, Func<OpBench, object?>>
    {
        // memory
        ["Empty: a negative dimension"] = b => b.Ops.Empty(DType.F32, 2, -1),
        ["FromHost: too few values"] = b => b.Ops.FromHost(new float[5], 2, 3),

        // GEMM
        ["Linear: x of rank 0"] = b => b.Ops.Linear(b.T(), b.T(4, 3)),
        ["Linear: w of rank 3"] = b => b.Ops.Linear(b.T(2, 3), b.T(1, 4, 3)),
        ["Linear: x's K differs from w's"] = b => b.Ops.Linear(b.T(2, 3), b.T(4, 5)),
        ["Linear: bias of the wrong length"] = b => b.Ops.Linear(b.T(2, 3), b.T(4, 3), b.T(5)),
        ["Linear: bias of rank 2"] = b => b.Ops.Linear(b.T(2, 3), b.T(4, 3), b.T(1, 4)),
        ["LinearInto: y of another width"] = b => { b.Ops.LinearInto(b.T(2, 5), b.T(2, 3), b.T(4, 3)); return null; },
        ["LinearInto: y with other leading axes"] = b => { b.Ops.LinearInto(b.T(3, 4), b.T(2, 3), b.T(4, 3)); return null; },
        ["LinearRmsNormRopeInto: y of other heads"] = b => { b.Ops.LinearRmsNormRopeInto(b.T(1, 2, 3, 4), b.T(1, 2, 5), b.T(8, 5), null, null, null, null, 1e-6f, true); return null; },
        ["LinearRmsNormRopeInto: an odd head dim"] = b => { b.Ops.LinearRmsNormRopeInto(b.T(1, 2, 2, 3), b.T(1, 2, 5), b.T(6, 5), null, null, null, null, 1e-6f, true); return null; },
        ["LinearRmsNormRopeInto: y with strided heads"] = b => { b.Ops.LinearRmsNormRopeInto(b.T(1, 2, 2, 8).Slice(3, 0, 4), b.T(1, 2, 5), b.T(8, 5), null, null, null, null, 1e-6f, true); return null; },
        ["LinearRmsNormRopeInto: weight groups not dividing the heads"] = b => { b.Ops.LinearRmsNormRopeInto(b.T(1, 2, 3, 4), b.T(1, 2, 5), b.T(12, 5), null, b.T(2, 4), null, null, 1e-6f, true); return null; },
        ["LinearRmsNormRopeInto: cos without sin"] = b => { b.Ops.LinearRmsNormRopeInto(b.T(1, 2, 2, 4), b.T(1, 2, 5), b.T(8, 5), null, null, b.T(2, 4), null, 1e-6f, true); return null; },
        ["LinearRmsNormRopeInto: cos of other tokens"] = b => { b.Ops.LinearRmsNormRopeInto(b.T(1, 2, 2, 4), b.T(1, 2, 5), b.T(8, 5), null, null, b.T(3, 4), b.T(3, 4), 1e-6f, true); return null; },
        ["LinearLayerNormRopeInto: norm bias of another shape than the weight"] = b => { b.Ops.LinearLayerNormRopeInto(b.T(1, 2, 2, 4), b.T(1, 2, 5), b.T(8, 5), null, b.T(2, 4), b.T(4), null, null, 1e-6f, true); return null; },
        ["LinearLayerNormRopeInto: tables with a row per head"] = b => { b.Ops.LinearLayerNormRopeInto(b.T(1, 2, 2, 4), b.T(1, 2, 5), b.T(8, 5), null, null, null, b.T(2, 8), b.T(2, 8), 1e-6f, true); return null; },
        ["LinearGatedResidualInto: x of rank 2"] = b => { b.Ops.LinearGatedResidualInto(b.T(2, 4), b.T(2, 3), b.T(4, 3), null, b.T(4)); return null; },
        ["LinearGatedResidualInto: y of other tokens"] = b => { b.Ops.LinearGatedResidualInto(b.T(2, 5, 4), b.T(2, 6, 3), b.T(4, 3), null, b.T(2, 4)); return null; },
        ["LinearGatedResidualInto: x's width differs from w's N"] = b => { b.Ops.LinearGatedResidualInto(b.T(2, 5, 6), b.T(2, 5, 3), b.T(4, 3), null, b.T(2, 6)); return null; },
        ["LinearGatedResidualInto: output of another shape"] = b => { b.Ops.LinearGatedResidualInto(b.T(2, 5, 4), b.T(2, 5, 3), b.T(4, 3), null, b.T(2, 4), b.T(2, 5, 3)); return null; },
        ["LinearGatedResidualInto: gate of another width"] = b => { b.Ops.LinearGatedResidualInto(b.T(2, 5, 4), b.T(2, 5, 3), b.T(4, 3), b.T(4), b.T(2, 5)); return null; },
        ["MatMul: a of rank 1"] = b => b.Ops.MatMul(b.T(3), b.T(3, 4)),
        ["MatMul: inner dims differ"] = b => b.Ops.MatMul(b.T(2, 3), b.T(4, 5)),
        ["MatMul: inner dims differ (transposeB)"] = b => b.Ops.MatMul(b.T(2, 3), b.T(5, 4), transposeB: true),
        ["MatMul: leading axes differ"] = b => b.Ops.MatMul(b.T(2, 2, 3), b.T(3, 3, 4)),
        ["MatMul: b of another rank"] = b => b.Ops.MatMul(b.T(2, 2, 2, 3), b.T(2, 3, 4)),

        // normalisation
        ["LayerNorm: x of rank 0"] = b => b.Ops.LayerNorm(b.T(), null, null, 1e-5f),
        ["LayerNorm: weight of the wrong length"] = b => b.Ops.LayerNorm(b.T(2, 6), b.T(5), null, 1e-5f),
        ["LayerNorm: bias of rank 2"] = b => b.Ops.LayerNorm(b.T(2, 6), null, b.T(1, 6), 1e-5f),
        ["RmsNorm: weight of the wrong length"] = b => b.Ops.RmsNorm(b.T(2, 6), b.T(7), 1e-6f),
        ["GroupNorm: x of rank 1"] = b => b.Ops.GroupNorm(b.T(6), 2, null, null, 1e-5f),
        ["GroupNorm: channels do not split into the groups"] = b => b.Ops.GroupNorm(b.T(1, 6, 4), 4, null, null, 1e-5f),
        ["GroupNorm: zero groups"] = b => b.Ops.GroupNorm(b.T(1, 6, 4), 0, null, null, 1e-5f),
        ["GroupNorm: weight of the wrong length"] = b => b.Ops.GroupNorm(b.T(1, 6, 4), 2, b.T(4), null, 1e-5f),
        ["ChannelRmsNorm: x of rank 1"] = b => b.Ops.ChannelRmsNorm(b.T(6), null, 1e-6f),
        ["ChannelRmsNorm: weight of the wrong length"] = b => b.Ops.ChannelRmsNorm(b.T(1, 6, 4), b.T(4), 1e-6f),
        ["Softmax: x of rank 0"] = b => b.Ops.Softmax(b.T()),

        // pointwise
        ["Add: b of a higher rank"] = b => b.Ops.Add(b.T(3), b.T(2, 3)),
        ["Add: b does not broadcast"] = b => b.Ops.Add(b.T(2, 3), b.T(2, 2)),
        ["Mul: b does not broadcast"] = b => b.Ops.Mul(b.T(2, 3, 4), b.T(3, 3)),
        ["Modulate: x of rank 2"] = b => b.Ops.Modulate(b.T(2, 4), b.T(4), b.T(4)),
        ["Modulate: shift of another batch"] = b => b.Ops.Modulate(b.T(2, 3, 4), b.T(3, 4), b.T(4)),
        ["Modulate: scale of another width"] = b => b.Ops.Modulate(b.T(2, 3, 4), b.T(4), b.T(5)),
        ["Modulate: shift with a token axis"] = b => b.Ops.Modulate(b.T(2, 3, 4), b.T(2, 3, 4), b.T(4)),
        ["RmsNormGatedResidual: x and y differ"] = b => b.Ops.RmsNormGatedResidual(b.T(2, 3, 4), null, b.T(2, 3, 5), null, 1e-6f),
        ["RmsNormGatedResidual: weight of the wrong length"] = b => b.Ops.RmsNormGatedResidual(b.T(2, 3, 4), null, b.T(2, 3, 4), b.T(5), 1e-6f),
        ["RmsNormGatedResidual: gate of the wrong width"] = b => b.Ops.RmsNormGatedResidual(b.T(2, 3, 4), b.T(2, 5), b.T(2, 3, 4), null, 1e-6f),
        ["GatedResidual: x of rank 4"] = b => b.Ops.GatedResidual(b.T(1, 2, 3, 4), b.T(4), b.T(1, 2, 3, 4)),
        ["GatedResidual: y differs from x"] = b => b.Ops.GatedResidual(b.T(2, 3, 4), b.T(4), b.T(2, 4, 4)),
        ["GatedResidual: gate of another width"] = b => b.Ops.GatedResidual(b.T(2, 3, 4), b.T(2, 5), b.T(2, 3, 4)),
        ["RmsNormRope: an odd head dim"] = b => { b.Ops.RmsNormRope(b.T(1, 2, 1, 5), b.T(1, 2, 1, 5), null, b.T(2, 5), b.T(2, 5), 1e-6f, true); return null; },
        ["RmsNormRope: cos of other tokens"] = b => { b.Ops.RmsNormRope(b.T(1, 2, 1, 4), b.T(1, 2, 1, 4), null, b.T(3, 4), b.T(3, 4), 1e-6f, true); return null; },
        ["Geglu: an odd last axis"] = b => b.Ops.Geglu(b.T(2, 3, 7)),
        ["Swiglu: an odd last axis"] = b => b.Ops.Swiglu(b.T(2, 3, 7)),
        ["RmsNormRope: cos without sin"] = b => { b.Ops.RmsNormRope(b.T(1, 2, 1, 4), b.T(1, 2, 1, 4), null, b.T(2, 4), null, 1e-6f, true); return null; },
        ["LayerNormRope: a bias of another width"] = b => { b.Ops.LayerNormRope(b.T(1, 2, 1, 4), b.T(1, 2, 1, 4), b.T(4), b.T(6), b.T(2, 4), b.T(2, 4), 1e-6f, true); return null; },
        ["LayerNormRope: weight rows that do not divide the heads"] = b => { b.Ops.LayerNormRope(b.T(1, 2, 4, 4), b.T(1, 2, 4, 4), b.T(3, 4), null, b.T(2, 4), b.T(2, 4), 1e-6f, true); return null; },
        ["LayerNormRope: weight and bias differ"] = b => { b.Ops.LayerNormRope(b.T(1, 2, 4, 4), b.T(1, 2, 4, 4), b.T(2, 4), b.T(4), b.T(2, 4), b.T(2, 4), 1e-6f, true); return null; },
        ["LayerNormRope: cos without sin"] = b => { b.Ops.LayerNormRope(b.T(1, 2, 1, 4), b.T(1, 2, 1, 4), null, null, b.T(2, 4), null, 1e-6f, true); return null; },
        ["LayerNormModulate: x2 of other tokens"] = b => b.Ops.LayerNormModulate(b.T(1, 2, 4), b.T(8), b.T(8), 1e-6f, b.T(1, 3, 4)),
        ["LayerNormModulate: shift of x's width only, with x2"] = b => b.Ops.LayerNormModulate(b.T(1, 2, 4), b.T(4), b.T(8), 1e-6f, b.T(1, 2, 4)),
        ["RmsNormRope: y differs from x"] = b => { b.Ops.RmsNormRope(b.T(1, 3, 1, 4), b.T(1, 2, 1, 4), null, b.T(2, 4), b.T(2, 4), 1e-6f, true); return null; },
        ["GatedResidual: y2 differs from x"] = b => b.Ops.GatedResidual(b.T(2, 3, 4), b.T(4), b.T(2, 3, 4), b.T(2, 2, 4)),
        ["LayerNormModulate: x of rank 2"] = b => b.Ops.LayerNormModulate(b.T(2, 4), b.T(4), b.T(4), 1e-6f),
        ["LayerNormModulate: scale of another batch"] = b => b.Ops.LayerNormModulate(b.T(2, 3, 4), b.T(4), b.T(3, 4), 1e-6f),
        ["RmsNormModulate: x of rank 2"] = b => b.Ops.RmsNormModulate(b.T(2, 4), null, null, b.T(4), 1e-6f),
        ["RmsNormModulate: weight of another width"] = b => b.Ops.RmsNormModulate(b.T(2, 3, 4), b.T(5), null, b.T(4), 1e-6f),
        ["RmsNormModulate: shift with a token axis"] = b => b.Ops.RmsNormModulate(b.T(2, 3, 4), null, b.T(2, 3, 4), b.T(4), 1e-6f),
        ["RmsNormModulate: scale of another batch"] = b => b.Ops.RmsNormModulate(b.T(2, 3, 4), b.T(4), b.T(4), b.T(3, 4), 1e-6f),
        ["ResidualLayerNormModulate: y differs from x"] = b => b.Ops.ResidualLayerNormModulate(b.T(2, 3, 4), null, b.T(2, 4, 4), b.T(4), b.T(4), 1e-6f),
        ["ResidualLayerNormModulate: gate of another width"] = b => b.Ops.ResidualLayerNormModulate(b.T(2, 3, 4), b.T(2, 5), b.T(2, 3, 4), b.T(4), b.T(4), 1e-6f),
        ["ResidualLayerNormModulate: shift with a token axis"] = b => b.Ops.ResidualLayerNormModulate(b.T(2, 3, 4), null, b.T(2, 3, 4), b.T(2, 3, 4), b.T(4), 1e-6f),
        ["Rope: x of rank 3"] = b => b.Ops.Rope(b.T(2, 3, 4), b.T(3, 4), b.T(3, 4), false),
        ["Rope: an odd head dim"] = b => b.Ops.Rope(b.T(1, 3, 2, 5), b.T(3, 5), b.T(3, 5), true),
        ["Rope: cos of the wrong length"] = b => b.Ops.Rope(b.T(1, 3, 2, 4), b.T(4, 4), b.T(4, 4), false),
        ["Rope: sin differs from cos"] = b => b.Ops.Rope(b.T(1, 3, 2, 4), b.T(3, 4), b.T(3, 2), false),

        // attention
        ["Attention: q of rank 3"] = b => b.Ops.Attention(b.T(B, Nq, H * d), b.T(B, Nk, H, d), b.T(B, Nk, H, d)),
        ["Attention: k of rank 5"] = b => b.Ops.Attention(b.T(B, Nq, H, d), b.T(B, Nk, H, d, 1), b.T(B, Nk, H, d)),
        ["Attention: k with fewer heads"] = b => b.Ops.Attention(b.T(B, Nq, H, d), b.T(B, Nk, 1, d), b.T(B, Nk, 1, d)),
        ["Attention: k of another head dim"] = b => b.Ops.Attention(b.T(B, Nq, H, d), b.T(B, Nk, H, d + 2), b.T(B, Nk, H, d + 2)),
        ["Attention: k of another batch"] = b => b.Ops.Attention(b.T(B, Nq, H, d), b.T(1, Nk, H, d), b.T(1, Nk, H, d)),
        ["Attention: v with a head dim of its own"] = b => b.Ops.Attention(b.T(B, Nq, H, d), b.T(B, Nk, H, d), b.T(B, Nk, H, 2 * d)),
        ["Attention: v with other keys than k"] = b => b.Ops.Attention(b.T(B, Nq, H, d), b.T(B, Nk, H, d), b.T(B, Nk + 1, H, d)),
        ["Attention: KeyBias of the wrong key count"] = b => b.Ops.Attention(b.T(B, Nq, H, d), b.T(B, Nk, H, d), b.T(B, Nk, H, d),
            new AttentionOptions { KeyBias = b.T(B, Nk + 1) }),
        ["Attention: KeyBias of another batch"] = b => b.Ops.Attention(b.T(B, Nq, H, d), b.T(B, Nk, H, d), b.T(B, Nk, H, d),
            new AttentionOptions { KeyBias = b.T(B + 1, Nk) }),
        ["Attention: KeyBias of rank 3"] = b => b.Ops.Attention(b.T(B, Nq, H, d), b.T(B, Nk, H, d), b.T(B, Nk, H, d),
            new AttentionOptions { KeyBias = b.T(B, 1, Nk) }),
        ["Attention: Bias of other heads"] = b => b.Ops.Attention(b.T(B, Nq, H, d), b.T(B, Nk, H, d), b.T(B, Nk, H, d),
            new AttentionOptions { Bias = b.T(1, H + 1, Nq, Nk) }),
        ["Attention: Bias of other keys"] = b => b.Ops.Attention(b.T(B, Nq, H, d), b.T(B, Nk, H, d), b.T(B, Nk, H, d),
            new AttentionOptions { Bias = b.T(B, H, Nq, Nk - 1) }),
        ["Attention: Bias of rank 3"] = b => b.Ops.Attention(b.T(B, Nq, H, d), b.T(B, Nk, H, d), b.T(B, Nk, H, d),
            new AttentionOptions { Bias = b.T(H, Nq, Nk) }),
        ["Attention: a negative window"] = b => b.Ops.Attention(b.T(B, Nq, H, d), b.T(B, Nk, H, d), b.T(B, Nk, H, d),
            new AttentionOptions { Window = -1 }),
        ["Attention: lse of the wrong shape"] = b => b.Ops.Attention(b.T(B, Nq, H, d), b.T(B, Nk, H, d), b.T(B, Nk, H, d), null, b.T(B, Nq, H)),
        ["Attention: lse in BF16"] = b => b.Ops.Attention(b.T(B, Nq, H, d), b.T(B, Nk, H, d), b.T(B, Nk, H, d), null, b.T(DType.BF16, B, H, Nq)),
        ["Attention: lse strided"] = b => b.Ops.Attention(b.T(B, Nq, H, d), b.T(B, Nk, H, d), b.T(B, Nk, H, d), null, b.T(B, Nq, H).Permute(0, 2, 1)),
        ["LinearAttentionSums: k of rank 3"] = b => b.Ops.LinearAttentionSums(b.T(B, Nk, H * d), b.T(B, Nk, H, d)),
        ["LinearAttentionSums: v differs from k"] = b => b.Ops.LinearAttentionSums(b.T(B, Nk, H, d), b.T(B, Nk + 1, H, d)),
        ["LinearAttentionApply: q of rank 3"] = b => b.Ops.LinearAttentionApply(b.T(B, Nq, H * d), b.T(B, H, d + 1, d), 1e-15f),
        ["LinearAttentionApply: sums without the normaliser row"] = b => b.Ops.LinearAttentionApply(b.T(B, Nq, H, d), b.T(B, H, d, d), 1e-15f),
        ["LinearAttentionApply: sums of other heads"] = b => b.Ops.LinearAttentionApply(b.T(B, Nq, H, d), b.T(B, H + 1, d + 1, d), 1e-15f),
        ["LinearAttentionApply: sums in BF16"] = b => b.Ops.LinearAttentionApply(b.T(B, Nq, H, d), b.T(DType.BF16, B, H, d + 1, d), 1e-15f),
        ["LinearAttentionApply: negative eps"] = b => b.Ops.LinearAttentionApply(b.T(B, Nq, H, d), b.T(B, H, d + 1, d), -1f),
        ["MergeAttention: o1 of rank 3"] = b => Merge(b, b.T(B, Nq, H * d), b.T(B, H, Nq), b.T(B, Nq, H * d), b.T(B, H, Nq)),
        ["MergeAttention: o2 differs from o1"] = b => Merge(b, b.T(B, Nq, H, d), b.T(B, H, Nq), b.T(B, Nq + 1, H, d), b.T(B, H, Nq)),
        ["MergeAttention: lse1 of the wrong shape"] = b => Merge(b, b.T(B, Nq, H, d), b.T(B, Nq, H), b.T(B, Nq, H, d), b.T(B, Nq, H)),
        ["MergeAttention: lse2 differs from lse1"] = b => Merge(b, b.T(B, Nq, H, d), b.T(B, H, Nq), b.T(B, Nq, H, d), b.T(B, H, Nq + 1)),
        ["MergeAttention: lse1 in BF16"] = b => Merge(b, b.T(B, Nq, H, d), b.T(DType.BF16, B, H, Nq), b.T(B, Nq, H, d), b.T(B, H, Nq)),
        ["MergeAttention: o1 strided"] = b => Merge(b, b.T(B, H, Nq, d).Permute(0, 2, 1, 3), b.T(B, H, Nq), b.T(B, Nq, H, d), b.T(B, H, Nq)),

        // convolution and resampling
        ["Conv2d: x of rank 3"] = b => b.Ops.Conv2d(b.T(3, 8, 8), b.T(4, 3, 3, 3), null),
        ["Conv2d: w of rank 2"] = b => b.Ops.Conv2d(b.T(1, 3, 8, 8), b.T(4, 27), null),
        ["Conv2d: input channels differ"] = b => b.Ops.Conv2d(b.T(1, 3, 8, 8), b.T(4, 2, 3, 3), null),
        ["Conv2d: bias of the wrong length"] = b => b.Ops.Conv2d(b.T(1, 3, 8, 8), b.T(4, 3, 3, 3), b.T(3)),
        ["Conv2d: stride 0"] = b => b.Ops.Conv2d(b.T(1, 3, 8, 8), b.T(4, 3, 3, 3), null, stride: 0),
        ["Conv2d: negative padding"] = b => b.Ops.Conv2d(b.T(1, 3, 8, 8), b.T(4, 3, 3, 3), null, padding: -1),
        ["Conv2d: residual of another size"] = b => b.Ops.Conv2d(b.T(1, 3, 8, 8), b.T(4, 3, 3, 3), null, 1, 1, b.T(1, 4, 6, 6)),
        ["Conv2d: residual per channel without its batch"] = b => b.Ops.Conv2d(b.T(2, 3, 8, 8), b.T(4, 3, 3, 3), null, 1, 1, b.T(1, 4, 1, 1)),
        ["GroupedConv2d: x of rank 3"] = b => b.Ops.GroupedConv2d(b.T(6, 8, 8), b.T(6, 1, 3, 3), null, 6, 1),
        ["GroupedConv2d: groups not dividing the input channels"] = b => b.Ops.GroupedConv2d(b.T(1, 6, 8, 8), b.T(4, 2, 1, 1), null, 4, 0),
        ["GroupedConv2d: groups 0"] = b => b.Ops.GroupedConv2d(b.T(1, 6, 8, 8), b.T(6, 1, 3, 3), null, 0, 1),
        ["GroupedConv2d: w with all input channels"] = b => b.Ops.GroupedConv2d(b.T(1, 6, 8, 8), b.T(6, 6, 3, 3), null, 6, 1),
        ["GroupedConv2d: bias of the wrong length"] = b => b.Ops.GroupedConv2d(b.T(1, 6, 8, 8), b.T(6, 1, 3, 3), b.T(5), 6, 1),
        ["GroupedConv2d: negative padding"] = b => b.Ops.GroupedConv2d(b.T(1, 6, 8, 8), b.T(6, 1, 3, 3), null, 6, -1),
        ["GroupedConv2d: kernel larger than the padded input"] = b => b.Ops.GroupedConv2d(b.T(1, 6, 2, 8), b.T(6, 1, 5, 5), null, 6, 1),
        ["Conv2d: kernel larger than the padded input"] = b => b.Ops.Conv2d(b.T(1, 3, 2, 8), b.T(4, 3, 5, 3), null, stride: 2, padding: 1),
        ["Upsample2x: x of rank 3"] = b => b.Ops.Upsample2x(b.T(3, 4, 4)),
        ["UpsampleNearest: x of rank 3"] = b => b.Ops.UpsampleNearest(b.T(3, 4, 4), 8, 8),
        ["UpsampleNearest: zero height"] = b => b.Ops.UpsampleNearest(b.T(1, 3, 4, 4), 0, 8),

        // layout
        ["Copy: shapes differ"] = b => { b.Ops.Copy(b.T(2, 3), b.T(3, 2)); return null; },
        ["Concat: no tensors"] = b => b.Ops.Concat(0),
        ["Concat: ranks differ"] = b => b.Ops.Concat(0, b.T(2, 3), b.T(2, 3, 1)),
        ["Concat: off-axis dims differ"] = b => b.Ops.Concat(1, b.T(2, 3), b.T(3, 3)),
        ["Concat: axis out of range"] = b => b.Ops.Concat(2, b.T(2, 3), b.T(2, 3)),
        ["Patchify: x of rank 3"] = b => b.Ops.Patchify(b.T(3, 4, 4), 2),
        ["Patchify: size not a multiple of the patch"] = b => b.Ops.Patchify(b.T(1, 3, 4, 6), 4),
        ["Patchify: patch 0"] = b => b.Ops.Patchify(b.T(1, 3, 4, 4), 0),
        ["Unpatchify: x of rank 4"] = b => b.Ops.Unpatchify(b.T(1, 4, 12, 1), 2, 3, 2, 2),
        ["Unpatchify: features do not match"] = b => b.Ops.Unpatchify(b.T(1, 4, 13), 2, 3, 2, 2),
        ["Unpatchify: tokens do not match the grid"] = b => b.Ops.Unpatchify(b.T(1, 5, 12), 2, 3, 2, 2),
        ["Embedding: table of rank 1"] = b => b.Ops.Embedding(b.T(4), [0]),
        ["Embedding: id past the table"] = b => b.Ops.Embedding(b.T(4, 3), [0, 4]),
        ["Embedding: negative id"] = b => b.Ops.Embedding(b.T(4, 3), [-1]),
    };

    public static TheoryData<string> Names => new(All.Keys);

    static object? Merge(OpBench b, Tensor o1, Tensor lse1, Tensor o2, Tensor lse2)
    {
        b.Ops.MergeAttention(o1, lse1, o2, lse2);
        return null;
    }

    /// <summary>Runs case <paramref name="name"/> on <paramref name="ops"/> and returns what it threw; a call that
    /// returns instead fails the test (its result disposed).</summary>
    public static Exception Refusal(IOps ops, string name)
    {
        using var bench = new OpBench(ops);
        object? result = null;
        var e = Record.Exception(() => result = All[name](bench));
        (result as IDisposable)?.Dispose();
        Assert.True(e is not null, $"{ops.Name} accepted \"{name}\"");
        return e;
    }
}
