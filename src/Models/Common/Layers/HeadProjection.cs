using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Layers;

/// <summary>
/// One of an attention's q/k/v projections: Linear [H·d, in] + b, split into heads, with the optional per-head
/// RMSNorm of qk_norm "rms_norm" (diffusers RMSNorm / torch RMSNorm over d, weight [d], eps 1e-6: one formula in
/// float32).
/// </summary>
public sealed class HeadProjection
{
    public const float NormEps = 1e-6f;

    readonly Linear _linear;
    readonly Tensor? _norm;

    public HeadProjection(Linear linear, Tensor? norm, int heads)
    {
        if (linear.OutFeatures % heads != 0)
            throw new ArgumentException($"projection width {linear.OutFeatures} is not a multiple of {heads} heads");
        _linear = linear;
        _norm = norm;
        Heads = heads;
    }

    /// <summary>Loads <paramref name="linear"/>.{weight,bias} [heads·headDim, inDim] of the attention scope
    /// <paramref name="w"/> and, when <paramref name="norm"/> is given, <paramref name="norm"/>.weight [headDim].</summary>
    public static HeadProjection Load(WeightScope w, string linear, string? norm, int inDim, int heads, int headDim, bool bias = true)
        => new(w.Linear(linear, inDim, heads * headDim, bias), norm is null ? null : w.Pp(norm).Get("weight", headDim), heads);

    public int Heads { get; }
    public int HeadDim => _linear.OutFeatures / Heads;

    /// <summary>x [B, N, in] → a fresh tensor holding [B, N, H, d] (view it with <see cref="AsHeads"/>; without a
    /// norm it is still shaped [B, N, H·d]).</summary>
    public Tensor Apply(IOps ops, Tensor x)
    {
        var y = _linear.Apply(ops, x);
        if (_norm is null) return y;
        using (y) return ops.RmsNorm(AsHeads(y, Heads), _norm, NormEps);
    }

    /// <summary>View of a contiguous [B, N, H·d] or [B, N, H, d] tensor as [B, N, H, d].</summary>
    public static Tensor AsHeads(Tensor t, int heads)
        => t.Rank == 4 ? t : t.Reshape(t.Dim(0), t.Dim(1), heads, t.Dim(2) / heads);

    /// <summary>View of a [B, N, H, d] tensor whose (H, d) are dense (contiguous, or a slice of tokens of an
    /// attention result) as [B, N, H·d].</summary>
    public static Tensor MergeHeads(Tensor t)
    {
        if (t.Rank == 3) return t;
        if (t.IsContiguous) return t.Reshape(t.Dim(0), t.Dim(1), t.Dim(2) * t.Dim(3));
        if (t.Rank != 4 || t.Strides[3] != 1 || t.Strides[2] != t.Dim(3))
            throw new ArgumentException($"MergeHeads: heads of {t} are not dense (strides {string.Join(", ", t.Strides.ToArray())})");
        return new Tensor(t.Storage, t.DType, [t.Dim(0), t.Dim(1), t.Dim(2) * t.Dim(3)], [t.Strides[0], t.Strides[1], 1], t.Offset);
    }
}
