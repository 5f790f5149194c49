using XDit.Kernels;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.PixArt;

/// <summary>
/// diffusers BasicTransformerBlock with norm_type "ada_norm_single", as PixArt-α/Σ use it: the block's
/// scale_shift_table [6, D] plus the shared timestep conditioning give AdaLN-zero parts; self-attention (attn1) on
/// the modulated norm with a gated residual, cross-attention (attn2) to the caption on the un-normalised tokens with
/// a plain residual, then a gated GELU-tanh feed-forward on the modulated norm.
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

        // self-attention on the modulated norm
        var x = state.Image;
        using (var a = ops.LayerNormModulate(x, m.ShiftMsa, m.ScaleMsa, _eps))
        using (var o = SelfAttention(ops, attention, a))
            state.ReplaceImage(ops.GatedResidual(x, m.GateMsa, o));

        // cross-attention on the un-normalised tokens, keys/values from the caption; its plain residual and the
        // feed-forward's modulated norm in one op
        var x1 = state.Image;
        var options = state.TextKeyBias is null ? null : new AttentionOptions { KeyBias = state.TextKeyBias };
        Tensor x2, f;
        using (var o = _attn2.Attend(ops, attention, _attn2Name, AttentionKind.Cross, x1, text, options))
            (x2, f) = ops.ResidualLayerNormModulate(x1, null, o, m.ShiftMlp, m.ScaleMlp, _eps);

        // feed-forward on the modulated norm, its gated output added into x2 (this block's own) by the last GEMM
        try { using (f) _ff.ApplyGatedResidualInto(ops, x2, f, m.GateMlp); }
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
    /// <paramref name="mod6"/> [B, 6, D], read in place (no copy).</summary>
    static AdaLnZeroParts Parts(Tensor mod6)
    {
        int b = mod6.Dim(0), d = mod6.Dim(2);
        return new AdaLnZeroParts(Layers.Modulation.View(mod6.Reshape(b, 6 * d), 0, 6, d));
    }

    /// <summary>attn1: as one module where the engine's attention runs modules (DiTFastAttn), else projected here
    /// and attended through <see cref="IAttention.Run"/>.</summary>
    Tensor SelfAttention(IOps ops, IAttention attention, Tensor x)
    {
        string layer = _attn1Name;
        if (attention is IModuleAttention modules)
            return modules.RunSelfAttention(ops, new SelfAttentionModuleCall
            {
                Layer = layer,
                Block = _index,
                Input = x,
                Project = (o, rows) => _attn1.Project(o, rows, rows),
                OutProject = _attn1.OutProject,
            });
        return _attn1.Attend(ops, attention, layer, AttentionKind.Self, x, x);
    }
}
