using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Layers;

/// <summary>
/// The conditioning linear of diffusers' adaptive LayerNorms: emb = linear(SiLU(c)) [B, k·D], cut into k chunks.
/// k = 6 for AdaLayerNormZero (shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp), 3 for
/// AdaLayerNormZeroSingle (shift, scale, gate), 9 for SD35AdaLayerNormZeroX (the 6, then shift/scale/gate of attn2).
/// The norm itself is LayerNorm without affine (eps 1e-6) followed by <see cref="Modulated"/>.
/// </summary>
public sealed class AdaLayerNormZero
{
    public const float Eps = 1e-6f;

    readonly Linear _linear;

    public AdaLayerNormZero(Linear linear, int chunks)
    {
        if (linear.OutFeatures != chunks * linear.InFeatures)
            throw new ArgumentException($"AdaLayerNormZero with {chunks} chunks needs a [{chunks}·D, D] linear, got [{linear.OutFeatures}, {linear.InFeatures}]");
        _linear = linear;
        Chunks = chunks;
    }

    /// <summary>Loads linear [chunks·dim, dim] + bias of the scope.</summary>
    public static AdaLayerNormZero Load(WeightScope w, int dim, int chunks)
        => new(w.Linear("linear", dim, chunks * dim), chunks);

    public int Chunks { get; }

    /// <summary>The linear layer [chunks·D, D] (a model may stack several adaptive norms' into one GEMM).</summary>
    public Linear Linear => _linear;

    /// <summary>The modulation vectors for conditioning <paramref name="temb"/> [B, D].</summary>
    public Modulation Compute(IOps ops, Tensor temb)
    {
        using var act = ops.Activate(temb, Activation.Silu);
        return ComputeActivated(ops, act);
    }

    /// <summary>The modulation vectors for SiLU(temb) [B, D] computed already (once per forward, not per block).</summary>
    public Modulation ComputeActivated(IOps ops, Tensor siluTemb) => Modulation.Split(_linear.Apply(ops, siluTemb), Chunks);

    /// <summary><see cref="Compute"/> named as AdaLN-zero's 6 (or SD3.5's 9) parts.</summary>
    public AdaLnZeroParts ComputeZero(IOps ops, Tensor temb) => new(Compute(ops, temb));

    /// <summary><see cref="Compute"/> named as AdaLayerNormZeroSingle's shift, scale, gate.</summary>
    public AdaLnSingleParts ComputeSingle(IOps ops, Tensor temb) => new(Compute(ops, temb));

    /// <summary>norm(x, temb)[0]: x normalised and modulated by the first shift/scale pair (the blocks' attention
    /// input, which TeaCache watches).</summary>
    public Tensor FirstModulated(IOps ops, Tensor x, Tensor temb)
    {
        using var m = Compute(ops, temb);
        return Modulated(ops, x, m[0], m[1]);
    }

    /// <summary><see cref="FirstModulated"/> from SiLU(temb) computed already.</summary>
    public Tensor FirstModulatedActivated(IOps ops, Tensor x, Tensor siluTemb)
    {
        using var m = ComputeActivated(ops, siluTemb);
        return Modulated(ops, x, m[0], m[1]);
    }

    /// <summary>LN(x)·(1 + scale) + shift, LayerNorm without affine, eps 1e-6, in one op. x [B, N, D]; shift, scale [B, D].</summary>
    public static Tensor Modulated(IOps ops, Tensor x, Tensor shift, Tensor scale) => ops.LayerNormModulate(x, shift, scale, Eps);
}
