using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Layers;

/// <summary>
/// One stream's q, k and v written into its rows of a packed [B, n, 3·D] tensor that joint attention reads in place:
/// q and k from one GEMM whose epilogue norms and rotates each head (<see cref="IOps.LinearRmsNormRopeInto"/>, q's
/// and k's norm weights stacked [2, d]), v from a plain GEMM beside them. So q and k are written once, normed and
/// rotated, instead of written by the projection and read and written again by a norm pass (Flux: 6.7 GB a forward).
/// </summary>
public static class PackedQkv
{
    /// <summary>x [B, n, in]; <paramref name="qkv"/> to_q/k/v stacked [3·D, in]; <paramref name="qkNorm"/> [2, D/heads];
    /// cos and sin [n, D/heads] or both null (the norm alone); <paramref name="rows"/> [B, n, 3·D], a view with dense
    /// rows (the stream's rows of the joint tensor); the norm's eps diffusers' RMSNorm default unless given.</summary>
    public static void ProjectInto(IOps ops, Tensor rows, Tensor x, Linear qkv, Tensor qkNorm, int heads, Tensor? cos, Tensor? sin,
        float eps = HeadProjection.NormEps)
    {
        var qk = QkHeads(rows, heads);
        int d = rows.Dim(2) / 3;
        ops.LinearRmsNormRopeInto(qk, x, qkv.Weight.Slice(0, 0, 2 * d), qkv.Bias?.Slice(0, 0, 2 * d), qkNorm, cos, sin, eps, interleaved: true);
        ProjectV(ops, rows, x, qkv);
    }

    /// <summary>As <see cref="ProjectInto"/> with each head's LayerNorm (CogVideoX's q/k norm: weight and bias
    /// [2, D/heads], q's row then k's).</summary>
    public static void ProjectLayerNormInto(IOps ops, Tensor rows, Tensor x, Linear qkv, Tensor? qkNorm, Tensor? qkNormBias, int heads,
        Tensor? cos, Tensor? sin, float eps)
    {
        var qk = QkHeads(rows, heads);
        int d = rows.Dim(2) / 3;
        ops.LinearLayerNormRopeInto(qk, x, qkv.Weight.Slice(0, 0, 2 * d), qkv.Bias?.Slice(0, 0, 2 * d), qkNorm, qkNormBias, cos, sin, eps, interleaved: true);
        ProjectV(ops, rows, x, qkv);
    }

    /// <summary>The first 2·D columns of each row as 2·heads dense heads.</summary>
    static Tensor QkHeads(Tensor rows, int heads)
    {
        int b = rows.Dim(0), n = rows.Dim(1), hd = rows.Dim(2) / 3 / heads;
        if (rows.Strides[2] != 1) throw new ArgumentException($"PackedQkv: rows {rows} must have dense rows");
        return new Tensor(rows.Storage, rows.DType, [b, n, 2 * heads, hd], [rows.Strides[0], rows.Strides[1], hd, 1], rows.Offset);
    }

    static void ProjectV(IOps ops, Tensor rows, Tensor x, Linear qkv)
    {
        int d = rows.Dim(2) / 3;
        ops.LinearInto(rows.Slice(2, 2 * d, d), x, qkv.Weight.Slice(0, 2 * d, d), qkv.Bias?.Slice(0, 2 * d, d));
    }
}
