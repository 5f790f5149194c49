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
        using var m = Modulation(ops, state.Conditioning);
        using var norm = ops.LayerNorm(state.Image, null, null, _eps);
        return ops.Modulate(norm, m.ShiftMsa, m.ScaleMsa);
    }

    public void Run(IOps ops, DitState state, IAttention attention)
    {
        var text = state.Text ?? throw new InvalidOperationException($"{_name}: needs the projected caption in state.Text");
        using var m = Modulation(ops, state.Conditioning);

        // self-attention on the modulated norm
        var x = state.Image;
        using (var norm = ops.LayerNorm(x, null, null, _eps))
        using (var a = ops.Modulate(norm, m.ShiftMsa, m.ScaleMsa))
        using (var o = SelfAttention(ops, attention, a))
            state.ReplaceImage(ops.GatedResidual(x, m.GateMsa, o));

        // cross-attention on the un-normalised tokens, keys/values from the caption
        var x1 = state.Image;
        var options = state.TextKeyBias is null ? null : new AttentionOptions { KeyBias = state.TextKeyBias };
        using (var o = _attn2.Attend(ops, attention, _attn2Name, AttentionKind.Cross, x1, text, options))
            state.ReplaceImage(ops.Add(x1, o));

        // feed-forward on the modulated norm
        var x2 = state.Image;
        using (var norm = ops.LayerNorm(x2, null, null, _eps))
        using (var f = ops.Modulate(norm, m.ShiftMlp, m.ScaleMlp))
        using (var y = _ff.Apply(ops, f))
            state.ReplaceImage(ops.GatedResidual(x2, m.GateMlp, y));
    }

    /// <summary>(shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp): the table [6, D] plus temb6
    /// [B, 6·D] viewed [B, 6, D], laid out [6, B, D] so each part is a contiguous [B, D] row.</summary>
    AdaLnZeroParts Modulation(IOps ops, Tensor temb6)
    {
        int b = temb6.Dim(0), d = _scaleShiftTable.Dim(1);
        using var mod6 = ops.Add(temb6.Reshape(b, 6, d), _scaleShiftTable);
        return new AdaLnZeroParts(Layers.Modulation.FromRows(ops.Contiguous(mod6.Permute(1, 0, 2))));
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
