using XDit.Kernels;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.CogVideoX;

/// <summary>
/// diffusers CogVideoXBlock: CogVideoXLayerNormZero (one LayerNorm, modulated separately for the video and the text
/// tokens: shift, scale, gate, then the text's), one attention over [text; video] with the same to_q/to_k/to_v for both,
/// a LayerNorm with affine over each head of q and k (eps 1e-6), RoPE on the video tokens only, to_out.0 for both,
/// gated residuals; then norm2 (same shape) and one GELU-tanh feed-forward for both streams, gated per stream.
/// Laid out for few launches: norm1's and norm2's linears are one GEMM of SiLU(temb) (computed once per forward),
/// their chunks read in place, with the LayerNorms' affine folded into their rows at load (each norm and its
/// modulation is then one <see cref="IOps.LayerNormModulate"/>); each stream's Q, K and V come from one GEMM writing its rows of one [B, T + N, 3·D]
/// tensor (text first), so attention reads the joined sequence in place; q and k of a stream are normed (and rotated)
/// in place in one launch; the attention output projection and the feed-forward add their gated outputs in the GEMMs'
/// epilogues.
/// </summary>
sealed class CogVideoXBlock
{
    public const float QkNormEps = 1e-6f;

    readonly string _attnName;   // the attention layer's key is its weights' prefix
    readonly int _heads, _headDim, _dim;
    readonly Linear _ada;        // norm1.linear and norm2.linear stacked: [12·D, time_embed_dim]
    readonly Linear _adaFirst;   // norm1.linear's rows alone (TeaCache's indicator)
    readonly CogVideoXLayerNorm _norm1, _norm2;
    readonly Linear _qkv, _toOut;
    readonly Tensor _normQK, _normQKBias;   // [norm_q; norm_k] weight and bias as [2, head_dim]
    readonly FeedForward _ff;

    /// <summary>Loads block transformer_blocks.{index} from its scope.</summary>
    public CogVideoXBlock(WeightScope w, CogVideoXConfig c)
    {
        int d = c.InnerDim, hd = c.AttentionHeadDim;
        _heads = c.NumAttentionHeads;
        _headDim = hd;
        _dim = d;
        var (ada, parts) = w.Stack(w.Linear("norm1.linear", c.TimeEmbedDim, 6 * d), w.Linear("norm2.linear", c.TimeEmbedDim, 6 * d));
        (_ada, _adaFirst) = (ada, parts[0]);
        _norm1 = CogVideoXLayerNorm.Load(w.Pp("norm1.norm"), d, c.NormElementwiseAffine, c.NormEps);
        _norm2 = CogVideoXLayerNorm.Load(w.Pp("norm2.norm"), d, c.NormElementwiseAffine, c.NormEps);
        // the norms' affine goes into the shift and scale rows of both streams (chunks: shift, scale, gate, then the
        // text's; norm2's six after norm1's)
        _norm1.FoldInto(w.Ops, _ada, 0, 1);
        _norm1.FoldInto(w.Ops, _ada, 3, 4);
        _norm2.FoldInto(w.Ops, _ada, 6, 7);
        _norm2.FoldInto(w.Ops, _ada, 9, 10);
        var attn = w.Pp("attn1");
        _attnName = attn.Prefix;
        bool bias = c.AttentionBias;
        _qkv = attn.Stack(attn.Linear("to_q", d, d, bias), attn.Linear("to_k", d, d, bias), attn.Linear("to_v", d, d, bias)).Stacked;
        _toOut = attn.Linear("to_out.0", d, d);
        _normQK = attn.StackVectors(attn.Get("norm_q.weight", hd), attn.Get("norm_k.weight", hd));
        _normQKBias = attn.StackVectors(attn.Get("norm_q.bias", hd), attn.Get("norm_k.bias", hd));
        _ff = FeedForward.Load(w.Pp("ff"), d, 4 * d);
    }

    /// <summary>norm1(x, text, temb)[0]: the video tokens' attention input, LN(x)·(1 + scale) + shift.</summary>
    public Tensor ModulatedImage(IOps ops, DitState state)
    {
        using var m = Modulation.Split(_adaFirst.Apply(ops, state.Conditioning), 6);
        return _norm1.Modulated(ops, state.Image, m[0], m[1]);
    }

    public void Run(IOps ops, DitState state, IAttention attention)
    {
        var x = state.Image;
        var c = state.Text ?? throw new InvalidOperationException($"{_attnName}: CogVideoX blocks need the text tokens in state.Text");
        var rotary = state.ImageRopeCos is not null;
        int b = x.Dim(0), n = x.Dim(1), t = c.Dim(1);

        // norm1 and norm2 of both streams from one GEMM of SiLU(temb): shift, scale, gate, enc_shift, enc_scale,
        // enc_gate, then norm2's six
        using var ada = _ada.Apply(ops, state.Conditioning);
        using var m1 = Modulation.View(ada, 0, 6, _dim);
        using var m2 = Modulation.View(ada, 6, 6, _dim);
        Tensor gate1 = m1[2], encGate1 = m1[5], gate2 = m2[2], encGate2 = m2[5];
        using var gated = ops.PrepareGatedEpilogues([(gate1, _toOut.Bias), (encGate1, _toOut.Bias), (gate2, _ff.OutBias), (encGate2, _ff.OutBias)]);

        AttentionResult r;
        {
            using var xHat = _norm1.Modulated(ops, x, m1[0], m1[1]);
            using var cHat = _norm1.Modulated(ops, c, m1[3], m1[4]);
            using var joint = ops.Empty(xHat.DType, b, t + n, 3 * _dim);
            // per stream q, k and v into its rows, q and k LayerNormed (norm_q's row, norm_k's) in their projection's
            // epilogue; the video tokens also rotated there
            PackedQkv.ProjectLayerNormInto(ops, joint.Slice(1, 0, t), cHat, _qkv, _normQK, _normQKBias, _heads, null, null, QkNormEps);
            PackedQkv.ProjectLayerNormInto(ops, joint.Slice(1, t, n), xHat, _qkv, _normQK, _normQKBias, _heads,
                rotary ? state.ImageRopeCos : null, rotary ? state.ImageRopeSin : null, QkNormEps);
            var heads = joint.Reshape(b, t + n, 3, _heads, _headDim);
            Tensor q = heads.Select(2, 0), k = heads.Select(2, 1), v = heads.Select(2, 2);
            r = attention.Run(ops, new AttentionCall
            {
                Layer = _attnName, Kind = AttentionKind.Self,
                Q = q.Slice(1, t, n), K = k.Slice(1, t, n), V = v.Slice(1, t, n),
                JointQ = q.Slice(1, 0, t), JointK = k.Slice(1, 0, t), JointV = v.Slice(1, 0, t), JointFirst = true,
            });
        }

        Tensor x1, c1;
        try
        {
            var attnText = r.JointOutput ?? throw new InvalidOperationException($"{_attnName}: the attention returned no rows for the text tokens");
            x1 = Residual(ops, x, r.Output, gate1);
            try { c1 = Residual(ops, c, attnText, encGate1); }
            catch { x1.Dispose(); throw; }
        }
        finally
        {
            // the text rows' tensor may own the storage both views read: free it last
            r.Output.Dispose();
            r.JointOutput?.Dispose();
        }

        try
        {
            using (var xn = _norm2.Modulated(ops, x1, m2[0], m2[1])) _ff.ApplyGatedResidualInto(ops, x1, xn, gate2);
            using (var cn = _norm2.Modulated(ops, c1, m2[3], m2[4])) _ff.ApplyGatedResidualInto(ops, c1, cn, encGate2);
        }
        catch { x1.Dispose(); c1.Dispose(); throw; }
        state.ReplaceImage(x1);
        state.ReplaceText(c1);
    }

    /// <summary>x + gate·(attn·Woutᵀ + b) into a fresh tensor, in the output projection's epilogue (x, the block's
    /// input, stays as it is).</summary>
    Tensor Residual(IOps ops, Tensor x, Tensor attn, Tensor gate)
    {
        var y = ops.Empty(x.DType, x.Dims);
        try
        {
            ops.LinearGatedResidualInto(x, HeadProjection.MergeHeads(attn), _toOut.Weight, _toOut.Bias, gate, y);
            return y;
        }
        catch { y.Dispose(); throw; }
    }
}
