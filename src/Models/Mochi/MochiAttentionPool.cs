using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Mochi;

/// <summary>
/// diffusers MochiAttentionPool: the mean of each row's kept text tokens (Σ mask clamped to at least 1) is put in
/// front of the tokens and queries them all with 8-head attention (to_q of the mean; to_kv of [mean; tokens], keys
/// then values, each heads × d), the padded tokens hidden and the mean always seen; to_out maps the result to the
/// conditioning width. Unlike HunyuanDiT's pool it has no position table and honours the mask.
/// </summary>
sealed class MochiAttentionPool
{
    readonly Linear _kv, _q, _out;
    readonly int _dim;

    MochiAttentionPool(Linear kv, Linear q, Linear @out, int dim) { _kv = kv; _q = q; _out = @out; _dim = dim; }

    /// <summary>Loads to_kv [2·C, C], to_q [C, C] and to_out [outDim, C] (each with a bias) of the scope.</summary>
    public static MochiAttentionPool Load(WeightScope w, int dim, int outDim)
        => new(w.Linear("to_kv", dim, 2 * dim), w.Linear("to_q", dim, dim), w.Linear("to_out", dim, outDim), dim);

    /// <summary>x [B, L, C] and its mask on the host (B·L values, nonzero kept) → [B, outDim].</summary>
    public Tensor Apply(IOps ops, Tensor x, ReadOnlySpan<float> mask)
    {
        int b = x.Dim(0), l = x.Dim(1), heads = MochiConfig.PoolHeads, hd = _dim / heads;
        // the masked mean as a product with each row's weights m / max(Σ m, 1), so it stays on the op set
        var weights = new float[b * l];
        var bias = new float[b * (l + 1)];
        bool padded = false;
        for (int r = 0; r < b; r++)
        {
            int kept = 0;
            for (int j = 0; j < l; j++) if (mask[r * l + j] != 0) kept++;
            for (int j = 0; j < l; j++)
            {
                bool keep = mask[r * l + j] != 0;
                if (keep) weights[r * l + j] = 1f / Math.Max(kept, 1);
                else { bias[r * (l + 1) + 1 + j] = TextKeyBias.PaddedKeyBias; padded = true; }
            }
        }
        using var w = ops.FromHost(weights, b, 1, l);
        using var mean = ops.MatMul(w, x);
        using var seq = ops.Concat(1, mean, x);
        using var kv = _kv.Apply(ops, seq);
        var kvh = kv.Reshape(b, l + 1, 2, heads, hd);
        using var q = _q.Apply(ops, mean);
        using var keyBias = padded ? ops.FromHost(bias, b, l + 1) : null;
        using var o = ops.Attention(q.Reshape(b, 1, heads, hd), kvh.Select(2, 0), kvh.Select(2, 1),
            keyBias is null ? null : new AttentionOptions { KeyBias = keyBias });
        return _out.Apply(ops, o.Reshape(b, _dim));
    }
}
