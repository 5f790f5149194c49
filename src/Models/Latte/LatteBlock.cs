using XDit.Kernels;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.Latte;

/// <summary>
/// One of Latte's diffusers BasicTransformerBlocks (norm_type "ada_norm_single", as PixArt's): a spatial block
/// (transformer_blocks.i: self-attention within each frame, cross-attention to the caption, feed-forward) or a
/// temporal block (temporal_transformer_blocks.i: self-attention across the frames of each patch position, no
/// cross-attention, feed-forward). The tokens come as [B, G·L, D], G groups of L tokens each attending among
/// themselves (spatial: frames × patches; temporal: patches × frames, the transformer permutes them), so the
/// per-batch-row modulation broadcasts over every token as is; only the self-attention views them [B·G, L, D].
/// The cross-attention runs on [B, F·N, D] directly: each query attends to its own row's caption alone, which is
/// what diffusers' caption repeated per frame computes.
/// </summary>
sealed class LatteBlock
{
    readonly string _attn1Name, _attn2Name;
    readonly float _eps;
    readonly Tensor _scaleShiftTable;
    readonly AttentionProjections _attn1;
    readonly AttentionProjections? _attn2;
    readonly FeedForward _ff;

    /// <summary>Loads a block from its scope; <paramref name="spatial"/> blocks have attn2 (cross-attention).</summary>
    public LatteBlock(WeightScope w, LatteConfig c, bool spatial)
    {
        _attn1Name = w.Pp("attn1").Prefix;
        _attn2Name = w.Pp("attn2").Prefix;
        _eps = (float)c.NormEps;
        int d = c.InnerDim, h = c.NumAttentionHeads;
        _scaleShiftTable = w.Get("scale_shift_table", 6, d);
        _attn1 = AttentionProjections.Load(w.Pp("attn1"), d, d, h, c.AttentionBias);
        if (spatial) _attn2 = AttentionProjections.Load(w.Pp("attn2"), d, c.CrossAttentionDim, h, c.AttentionBias);
        _ff = FeedForward.Load(w.Pp("ff"), d, 4 * d);
    }

    /// <summary>LN(x)·(1 + scale_msa) + shift_msa, as attn1 sees it (TeaCache's indicator).</summary>
    public Tensor ModulatedInput(IOps ops, Tensor x, Tensor temb6)
    {
        using var mod6 = Modulation6(ops, temb6);
        using var m = Parts(mod6);
        return ops.LayerNormModulate(x, m.ShiftMsa, m.ScaleMsa, _eps);
    }

    /// <summary>The block on <paramref name="x"/> [B, groups·L, D] → a new tensor of that shape (x is only read).
    /// <paramref name="text"/> is the projected caption [B, T, D] for a spatial block, null for a temporal one.</summary>
    public Tensor Run(IOps ops, IAttention attention, Tensor x, int groups, Tensor temb6, Tensor? text)
    {
        if (_attn2 is not null && text is null) throw new InvalidOperationException($"{_attn2Name}: a spatial block needs the projected caption");
        using var mod6 = Modulation6(ops, temb6);
        using var m = Parts(mod6);
        int b = x.Dim(0), n = x.Dim(1), d = x.Dim(2);
        if (n % groups != 0) throw new ArgumentException($"{_attn1Name}: {n} tokens do not split into {groups} groups");
        int len = n / groups;

        // self-attention within each group on the modulated norm, its gated residual
        Tensor x1;
        using (var a = ops.LayerNormModulate(x, m.ShiftMsa, m.ScaleMsa, _eps))
        {
            var grouped = a.Reshape(b * groups, len, d);
            var (q, k, v) = _attn1.Project(ops, grouped, grouped);
            AttentionResult r;
            try { r = attention.Run(ops, new AttentionCall { Layer = _attn1Name, Kind = AttentionKind.Self, Q = q, K = k, V = v }); }
            finally { q.Dispose(); k.Dispose(); v.Dispose(); }
            r.JointOutput?.Dispose();
            using var o = r.Output;
            using var projected = _attn1.OutProject(ops, o);
            x1 = ops.GatedResidual(x, m.GateMsa, projected.Reshape(b, n, d));
        }
        try
        {
            // cross-attention on the un-normalised tokens (plain residual, in place on x1, this block's own)
            _attn2?.AttendResidualInto(ops, attention, _attn2Name, AttentionKind.Cross, x1, text!, x1, gate: null);
            // feed-forward on the modulated norm (diffusers' norm2), its gated output added into x1
            using var f = ops.LayerNormModulate(x1, m.ShiftMlp, m.ScaleMlp, _eps);
            _ff.ApplyGatedResidualInto(ops, x1, f, m.GateMlp);
        }
        catch { x1.Dispose(); throw; }
        return x1;
    }

    /// <summary>The table [6, D] plus temb6 [B, 6·D] viewed [B, 6, D].</summary>
    Tensor Modulation6(IOps ops, Tensor temb6)
    {
        int b = temb6.Dim(0), d = _scaleShiftTable.Dim(1);
        return ops.Add(temb6.Reshape(b, 6, d), _scaleShiftTable);
    }

    /// <summary>(shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp) as [B, D] views of mod6 [B, 6, D].</summary>
    static AdaLnZeroParts Parts(Tensor mod6)
    {
        int b = mod6.Dim(0), d = mod6.Dim(2);
        return new AdaLnZeroParts(Modulation.View(mod6.Reshape(b, 6 * d), 0, 6, d));
    }
}
