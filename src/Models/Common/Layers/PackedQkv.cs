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

    /// <summary>One stream of <see cref="JointAttention"/>: its modulated tokens [B, n, in], its to_q/k/v stacked, its
    /// q and k norm weights [2, d] and its rotation tables [n, d] (both null: none).</summary>
    public readonly record struct Stream(Tensor X, Linear Qkv, Tensor QkNorm, Tensor? Cos, Tensor? Sin);

    /// <summary>
    /// Joint attention over an image (or video) stream and a text stream: each stream's q, k and v projected into its
    /// rows of one [B, n + T, 3·D] tensor (<see cref="ProjectInto"/>), the text's rows first (Flux, Qwen-Image) or
    /// last (HunyuanVideo), and the attention reading the joined rows in place (<see cref="LocalAttention"/>: no
    /// concat, no split), its layer <paramref name="block"/>.attn. Throws when the attention returns no text rows.
    /// </summary>
    public static AttentionResult JointAttention(IOps ops, IAttention attention, string block, int heads, Stream image, Stream text, bool textFirst,
        AttentionOptions? options = null)
    {
        int b = image.X.Dim(0), n = image.X.Dim(1), t = text.X.Dim(1), d = image.X.Dim(2), hd = d / heads;
        int imageAt = textFirst ? t : 0, textAt = textFirst ? 0 : n;
        using var joint = ops.Empty(image.X.DType, b, n + t, 3 * d);
        ProjectInto(ops, joint.Slice(1, textAt, t), text.X, text.Qkv, text.QkNorm, heads, text.Cos, text.Sin);
        ProjectInto(ops, joint.Slice(1, imageAt, n), image.X, image.Qkv, image.QkNorm, heads, image.Cos, image.Sin);
        var h = joint.Reshape(b, n + t, 3, heads, hd);
        Tensor q = h.Select(2, 0), k = h.Select(2, 1), v = h.Select(2, 2);
        var r = attention.Run(ops, new AttentionCall
        {
            Layer = block + ".attn", Kind = AttentionKind.Self, JointFirst = textFirst,
            Q = q.Slice(1, imageAt, n), K = k.Slice(1, imageAt, n), V = v.Slice(1, imageAt, n),
            JointQ = q.Slice(1, textAt, t), JointK = k.Slice(1, textAt, t), JointV = v.Slice(1, textAt, t),
            Options = options,
        });
        if (r.JointOutput is null)
        {
            r.Output.Dispose();
            throw new InvalidOperationException($"{block}: the attention returned no rows for the text tokens");
        }
        return r;
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
