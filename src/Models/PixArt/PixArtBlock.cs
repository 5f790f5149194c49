using XDit.Kernels;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.PixArt;

/// <summary>
/// diffusers BasicTransformerBlock with norm_type "ada_norm_single", as PixArt-α/Σ use it: the block's
/// scale_shift_table [6, D] plus the shared timestep conditioning give AdaLN-zero parts; self-attention (attn1) on
/// the modulated norm with a gated residual, cross-attention (attn2) to the caption on the un-normalised tokens with
/// a plain residual, then a gated GELU-tanh feed-forward on the modulated norm. Each residual is added in its
/// output projection's GEMM epilogue (13 launches a block on CUDA; 21 unfused).
/// </summary>
sealed class PixArtBlock
{
    readonly string _name, _attn1Name, _attn2Name;   // the attention layers' keys are their weights' prefixes
    readonly int _index;
    readonly float _eps;
    readonly Tensor _scaleShiftTable;
    readonly AttentionProjections _attn1, _attn2;
    readonly FeedForward _ff;

    /// <summary>Loads block <paramref name="index"/> from its scope (transformer_blocks.{index}).</summary>
    public PixArtBlock(WeightScope w, PixArtConfig c, int index)
    {
        _name = w.Prefix;
        _attn1Name = w.Pp("attn1").Prefix;
        _attn2Name = w.Pp("attn2").Prefix;
        _index = index;
        _eps = (float)c.NormEps;
        int d = c.InnerDim, h = c.NumAttentionHeads;
        _scaleShiftTable = w.Get("scale_shift_table", 6, d);
        _attn1 = AttentionProjections.Load(w.Pp("attn1"), d, d, h, c.AttentionBias);
        _attn2 = AttentionProjections.Load(w.Pp("attn2"), d, c.CrossAttentionDim, h, c.AttentionBias);
        _ff = FeedForward.Load(w.Pp("ff"), d, 4 * d);
    }

    /// <summary>LN(x)·(1 + scale_msa) + shift_msa of the image tokens, as attn1 sees them (TeaCache's indicator).</summary>
    public Tensor ModulatedImage(IOps ops, DitState state)
    {
        using var mod6 = Modulation6(ops, state.Conditioning);
        using var m = Parts(mod6);
        return ops.LayerNormModulate(state.Image, m.ShiftMsa, m.ScaleMsa, _eps);
    }

    public void Run(IOps ops, DitState state, IAttention attention)
    {
        var text = state.Text ?? throw new InvalidOperationException($"{_name}: needs the projected caption in state.Text");
        using var mod6 = Modulation6(ops, state.Conditioning);
        using var m = Parts(mod6);
        // the two gated GEMMs (attn1's output projection, the feed-forward's last) take their gates from mod6: the
        // backend turns them into epilogue constants in one pass
        using var gated = ops.PrepareGatedEpilogues([(m.GateMsa, _attn1.OutBias), (m.GateMlp, _ff.OutBias)]);

        // self-attention on the modulated norm: x1 = x + gate_msa·attn1(...), out of place (state.Image, the block's
        // input, may be held by a step cache)
        var x1 = SelfAttentionResidual(ops, attention, state.Image, m);
        try
        {
            // cross-attention on the un-normalised tokens, keys/values from the caption: its plain residual in
            // to_out's GEMM epilogue, in place on x1 (this block's own), then the feed-forward's modulated norm
            var options = state.TextKeyBias is null ? null : new AttentionOptions { KeyBias = state.TextKeyBias };
            _attn2.AttendResidualInto(ops, attention, _attn2Name, AttentionKind.Cross, x1, text, x1, gate: null, options: options);
            // feed-forward on the modulated norm, its gated output added into x1 by the last GEMM
            using (var f = ops.LayerNormModulate(x1, m.ShiftMlp, m.ScaleMlp, _eps))
                _ff.ApplyGatedResidualInto(ops, x1, f, m.GateMlp);
        }
        catch { x1.Dispose(); throw; }
        state.ReplaceImage(x1);
    }

    /// <summary>The table [6, D] plus temb6 [B, 6·D] viewed [B, 6, D]: one add.</summary>
    Tensor Modulation6(IOps ops, Tensor temb6)
    {
        int b = temb6.Dim(0), d = _scaleShiftTable.Dim(1);
        return ops.Add(temb6.Reshape(b, 6, d), _scaleShiftTable);
    }

    /// <summary>(shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp) as [B, D] views of
    /// <paramref name="mod6"/> [B, 6, D], read in place (no copy).</summary>
    static AdaLnZeroParts Parts(Tensor mod6)
    {
        int b = mod6.Dim(0), d = mod6.Dim(2);
        return new AdaLnZeroParts(Layers.Modulation.View(mod6.Reshape(b, 6 * d), 0, 6, d));
    }

    /// <summary>x + gate_msa·attn1(LN(x)·(1 + scale_msa) + shift_msa), a new tensor (x is only read). attn1 runs as
    /// one module where the engine's attention runs modules (DiTFastAttn: it may hand back a projected output of an
    /// earlier step, so the gated residual is its own op there); else projected here, attended through
    /// <see cref="IAttention.Run"/> and to_out's GEMM adds the gated residual in its epilogue.</summary>
    Tensor SelfAttentionResidual(IOps ops, IAttention attention, Tensor x, AdaLnZeroParts m)
    {
        string layer = _attn1Name;
        using var a = ops.LayerNormModulate(x, m.ShiftMsa, m.ScaleMsa, _eps);
        if (attention is IModuleAttention modules)
        {
            using var projected = modules.RunSelfAttention(ops, new SelfAttentionModuleCall
            {
                Layer = layer,
                Block = _index,
                Input = a,
                Project = (o, rows) => _attn1.Project(o, rows, rows),
                OutProject = _attn1.OutProject,
            });
            return ops.GatedResidual(x, m.GateMsa, projected);
        }
        var x1 = ops.Empty(x.DType, x.Dims);
        try { _attn1.AttendResidualInto(ops, attention, layer, AttentionKind.Self, a, a, x, m.GateMsa, x1); }
        catch { x1.Dispose(); throw; }
        return x1;
    }
}
