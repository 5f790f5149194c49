using XDit.Kernels;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.Sana;

/// <summary>
/// diffusers SanaTransformerBlock: the block's scale_shift_table [6, D] plus the shared timestep conditioning give
/// AdaLN-single parts; ReLU linear self-attention (attn1, SanaLinearAttnProcessor2_0) on the modulated norm with a
/// gated residual; softmax cross-attention (attn2) to the caption on the un-normalised tokens with a plain residual;
/// then the Mix-FFN (GLUMBConv, a depth-wise 3×3 over the token grid) on norm2's modulated output, gated.
/// </summary>
sealed class SanaBlock
{
    readonly string _attn1Name, _attn2Name, _ffName;
    readonly float _eps;
    readonly Tensor _scaleShiftTable;
    readonly AttentionProjections _attn1, _attn2;
    readonly GluMbConv _ff;
    readonly SanaQkNorm? _qkNorm1, _qkNorm2;   // qk_norm "rms_norm_across_heads" (SANA Sprint), else null

    /// <summary>Loads block <paramref name="index"/> from its scope (transformer_blocks.{index}).</summary>
    public SanaBlock(WeightScope w, SanaConfig c)
    {
        _attn1Name = w.Pp("attn1").Prefix;
        _attn2Name = w.Pp("attn2").Prefix;
        _ffName = w.Pp("ff").Prefix;
        _eps = (float)c.NormEps;
        int d = c.InnerDim;
        _scaleShiftTable = w.Get("scale_shift_table", 6, d);
        _attn1 = AttentionProjections.Load(w.Pp("attn1"), d, d, c.NumAttentionHeads, c.AttentionBias);
        // attn2 always has q/k/v biases (diffusers builds it with bias=True)
        _attn2 = AttentionProjections.Load(w.Pp("attn2"), d, c.CrossAttentionDim, c.NumCrossAttentionHeads, true);
        _ff = GluMbConv.Load(w.Pp("ff"), d, d, c.MlpRatio);
        if (c.QkNorm)
        {
            // attn1's and attn2's q and k are all inner-dim wide (cross heads × head dim = D, checked by the config)
            _qkNorm1 = SanaQkNorm.Load(w.Pp("attn1"), d, d);
            _qkNorm2 = SanaQkNorm.Load(w.Pp("attn2"), d, d);
        }
    }

    /// <summary>LN(x)·(1 + scale_msa) + shift_msa of the image tokens, as attn1 sees them (TeaCache's indicator).</summary>
    public Tensor ModulatedImage(IOps ops, DitState state)
    {
        using var mod6 = Modulation6(ops, state.Conditioning);
        var m = Parts(mod6);
        return ops.LayerNormModulate(state.Image, m.ShiftMsa, m.ScaleMsa, _eps);
    }

    public void Run(IOps ops, DitState state, IAttention attention)
    {
        var text = state.Text ?? throw new InvalidOperationException($"{_attn2Name}: needs the projected caption in state.Text");
        bool sharded = state.Image.Dim(1) != state.GridH * state.GridW;
        var gather = attention as ITokenGather;
        if (sharded && gather is null)
            throw new NotSupportedException($"SANA's Mix-FFN convolves the {state.GridH}×{state.GridW} token grid; this rank holds {state.Image.Dim(1)} of its tokens and the attention ({attention.GetType().Name}) cannot gather the others");
        using var mod6 = Modulation6(ops, state.Conditioning);
        var m = Parts(mod6);
        var attend1 = _qkNorm1?.Around(attention) ?? attention;
        var attend2 = _qkNorm2?.Around(attention) ?? attention;

        // linear self-attention on the modulated norm: x2 = x + gate_msa·attn1(...) in to_out's GEMM epilogue, out of
        // place (state.Image, the block's input, may be held by a step cache)
        var x = state.Image;
        var x2 = ops.Empty(x.DType, x.Dims);
        Tensor f;
        try
        {
            using (var a = ops.LayerNormModulate(x, m.ShiftMsa, m.ScaleMsa, _eps))
                _attn1.AttendResidualInto(ops, attend1, _attn1Name, AttentionKind.Linear, a, a, x, m.GateMsa, x2);
            // cross-attention on the un-normalised tokens, its plain residual added in place on x2 (this block's own)
            // by to_out's epilogue, then norm2's modulation
            var options = state.TextKeyBias is null ? null : new AttentionOptions { KeyBias = state.TextKeyBias };
            _attn2.AttendResidualInto(ops, attend2, _attn2Name, AttentionKind.Cross, x2, text, x2, gate: null, options: options);
            f = ops.LayerNormModulate(x2, m.ShiftMlp, m.ScaleMlp, _eps);
        }
        catch { x2.Dispose(); throw; }

        // Mix-FFN, its gated output added into x2 by the last GEMM. A sequence shard gathers the other ranks' rows
        // first: the depth-wise 3×3 reaches one grid row beyond the shard on each side. An attention that offers the
        // gather is asked even for the whole grid (PipeFusion's warm-up keeps it for the patches' edges).
        try
        {
            using (f)
            {
                if (gather is null) _ff.ApplyTokensGatedResidualInto(ops, x2, f, state.GridH, state.GridW, m.GateMlp);
                else
                {
                    using var grid = gather.GatherTokens(ops, f, _ffName);
                    _ff.ApplyTokenRangeGatedResidualInto(ops, x2, grid, state.GridH, state.GridW, state.TokenStart, f.Dim(1), m.GateMlp);
                }
            }
        }
        catch { x2.Dispose(); throw; }
        state.ReplaceImage(x2);
    }

    /// <summary>The table [6, D] plus temb6 [B, 6·D] viewed [B, 6, D]: one add.</summary>
    Tensor Modulation6(IOps ops, Tensor temb6)
    {
        int b = temb6.Dim(0), d = _scaleShiftTable.Dim(1);
        return ops.Add(temb6.Reshape(b, 6, d), _scaleShiftTable);
    }

    /// <summary>(shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp) as [B, D] views of
    /// <paramref name="mod6"/> [B, 6, D].</summary>
    static AdaLnZeroParts Parts(Tensor mod6)
    {
        int b = mod6.Dim(0), d = mod6.Dim(2);
        return new AdaLnZeroParts(Modulation.View(mod6.Reshape(b, 6 * d), 0, 6, d));
    }
}
