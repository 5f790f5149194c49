using XDit.Kernels;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.ZImage;

/// <summary>The rotary tables [rows, head_dim] of one stream's rows: one table shared by every batch row
/// (<see cref="Stride"/> 0), or one run of <see cref="Stride"/> table rows per batch row (captions of different padded
/// lengths, <see cref="ZImageTransformer"/>); a stream starts at table row <see cref="Offset"/> of each run.</summary>
readonly record struct ZImageRopeRows(Tensor Cos, Tensor Sin, int Stride = 0, int Offset = 0)
{
    public bool PerBatchRow => Stride != 0;
    /// <summary>The rows of a stream that starts <paramref name="offset"/> rows further on.</summary>
    public ZImageRopeRows From(int offset) => this with { Offset = Offset + offset };
    /// <summary>The [rows, d] tables of batch row <paramref name="b"/> (any row of a shared table).</summary>
    public (Tensor Cos, Tensor Sin) Row(int b, int rows)
    {
        int at = b * Stride + Offset;
        return at == 0 && Cos.Dim(0) == rows ? (Cos, Sin) : (Cos.Slice(0, at, rows), Sin.Slice(0, at, rows));
    }
}

/// <summary>
/// diffusers ZImageTransformerBlock, one single-stream block with all weights shared by every token it is given:
/// RMSNorm (attention_norm1) then, when modulated, ·(1 + scale_msa); to_q/k/v without bias, per-head RMSNorm of q
/// and k (eps 1e-5) and the complex RoPE; attention; to_out.0 without bias, RMSNorm (attention_norm2) and the residual
/// gated by tanh(gate_msa); then ffn_norm1, ·(1 + scale_mlp), the SwiGLU feed-forward w2(SiLU(w1·)·w3·), ffn_norm2 and
/// the residual gated by tanh(gate_mlp). The modulation (adaLN_modulation.0 of the timestep embedding, no SiLU) is
/// computed for every block at once in <see cref="ZImageTransformer.Embed"/>, which keeps (scale_msa, tanh gate_msa,
/// scale_mlp, tanh gate_mlp) in the state's conditioning. The context refiner's blocks have no modulation.
/// <para>The tokens come as two streams of the same block: the image tokens (which sequence parallelism splits) and
/// the joint rows after them (the image's padding tokens; in the main layers also the caption), all attended in
/// one softmax, image first, as diffusers' unified sequence puts them.</para>
/// </summary>
sealed class ZImageBlock
{
    readonly string _name;
    readonly int _heads, _hd, _dim;
    readonly float _eps;
    readonly Linear _qkv, _toOut, _w13, _w2;
    readonly Tensor? _qkNorm;   // norm_q and norm_k stacked [2, d] (qk_norm)
    readonly Tensor _attnNorm1, _attnNorm2, _ffnNorm1, _ffnNorm2;

    /// <summary>Loads the block from its scope (layers.{i}, noise_refiner.{i}, context_refiner.{i}).</summary>
    public ZImageBlock(WeightScope w, ZImageConfig c, bool modulated)
    {
        _name = w.Prefix;
        int d = c.Dim, hd = c.HeadDim, f = c.FfnDim;
        (_heads, _hd, _dim, _eps) = (c.NHeads, hd, d, (float)c.NormEps);
        var attn = w.Pp("attention");
        _qkv = attn.Stack(attn.Linear("to_q", d, d, bias: false), attn.Linear("to_k", d, d, bias: false), attn.Linear("to_v", d, d, bias: false)).Stacked;
        if (c.QkNorm)
        {
            _qkNorm = attn.StackVectors(attn.Pp("norm_q").Get("weight", hd), attn.Pp("norm_k").Get("weight", hd));
        }
        _toOut = attn.Linear("to_out.0", d, d, bias: false);
        _attnNorm1 = w.Pp("attention_norm1").Get("weight", d);
        _attnNorm2 = w.Pp("attention_norm2").Get("weight", d);
        _ffnNorm1 = w.Pp("ffn_norm1").Get("weight", d);
        _ffnNorm2 = w.Pp("ffn_norm2").Get("weight", d);
        var ff = w.Pp("feed_forward");
        // w1 (the SiLU gate) then w3 (the value): the gate-first [2F, D] operand of one GEMM that Swiglu reads
        _w13 = ff.Stack(ff.Linear("w1", d, f, bias: false), ff.Linear("w3", d, f, bias: false)).Stacked;
        _w2 = ff.Linear("w2", f, d, bias: false);
        if (modulated) AdaLn = w.Pp("adaLN_modulation").Linear("0", c.AdaLnDim, 4 * d);
    }

    /// <summary>adaLN_modulation.0 [4·dim, adaLN dim] of a modulated block (the transformer stacks them), else null.</summary>
    public Linear? AdaLn { get; }

    /// <summary>The modulation of a block as the state keeps it: [B, D] views (scale_msa, tanh gate_msa, scale_mlp,
    /// tanh gate_mlp); the scales are read without a shift (<see cref="IOps.RmsNormModulate"/>).</summary>
    public readonly record struct Mod(Tensor ScaleMsa, Tensor GateMsa, Tensor ScaleMlp, Tensor GateMlp);

    /// <summary>Runs the block on image rows <paramref name="x"/> [B, N, D] and joint rows <paramref name="j"/>
    /// [B, J, D] (null: none) in one attention, returning both streams' new rows (the caller owns them).</summary>
    public (Tensor X, Tensor? J) Run(IOps ops, Tensor x, Tensor? j, Mod? mod, ZImageRopeRows xRope, ZImageRopeRows? jRope,
        IAttention attention, AttentionOptions? options)
    {
        int b = x.Dim(0), n = x.Dim(1), nj = j?.Dim(1) ?? 0, d = _dim;
        using var qkv = ops.Empty(x.DType, b, n + nj, 3 * d);
        using (var hx = Normed(ops, x, _attnNorm1, mod?.ScaleMsa)) Project(ops, qkv.Slice(1, 0, n), hx, xRope);
        if (j is not null)
            using (var hj = Normed(ops, j, _attnNorm1, mod?.ScaleMsa)) Project(ops, qkv.Slice(1, n, nj), hj, jRope!.Value);
        var h = qkv.Reshape(b, n + nj, 3, _heads, _hd);
        Tensor q = h.Select(2, 0), k = h.Select(2, 1), v = h.Select(2, 2);
        var r = attention.Run(ops, new AttentionCall
        {
            Layer = _name + ".attention", Kind = AttentionKind.Self, JointFirst = false,
            Q = q.Slice(1, 0, n), K = k.Slice(1, 0, n), V = v.Slice(1, 0, n),
            JointQ = j is null ? null : q.Slice(1, n, nj), JointK = j is null ? null : k.Slice(1, n, nj), JointV = j is null ? null : v.Slice(1, n, nj),
            Options = options,
        });
        using var jointOut = r.JointOutput;   // disposed last: it may own the storage Output views
        using var xOut = r.Output;
        if (j is not null && jointOut is null)
            throw new InvalidOperationException($"{_name}: the attention returned no rows for the {nj} joint tokens");
        var newX = Tail(ops, x, xOut, mod);
        try { return (newX, j is null ? null : Tail(ops, j, jointOut!, mod)); }
        catch { newX.Dispose(); throw; }
    }

    /// <summary>The context refiner's form: the caption rows alone, unmodulated, attended among themselves on this
    /// rank (the caption is the same on every rank: nothing to split or exchange).</summary>
    public Tensor RunLocal(IOps ops, Tensor x, ZImageRopeRows rope, AttentionOptions? options)
        => Run(ops, x, null, null, rope, null, LocalAttention.Instance, options).X;

    /// <summary>RMSNorm(x)·weight, then ·(1 + scale) in the same pass when modulated.</summary>
    Tensor Normed(IOps ops, Tensor x, Tensor weight, Tensor? scale)
        => scale is null ? ops.RmsNorm(x, weight, _eps) : ops.RmsNormModulate(x, weight, null, scale, _eps);

    /// <summary>One stream's q, k and v into its rows [B, n, 3·D] of the joint tensor, q and k normed and rotated:
    /// in the projection's epilogue (<see cref="PackedQkv"/>) where every batch row has the same table and qk_norm is
    /// on, else the QKV GEMM then the norm and rotation of q and k in place.</summary>
    void Project(IOps ops, Tensor rows, Tensor normed, ZImageRopeRows rope)
    {
        int n = rows.Dim(1);
        if (_qkNorm is not null && !rope.PerBatchRow)
        {
            var (cos, sin) = rope.Row(0, n);
            PackedQkv.ProjectInto(ops, rows, normed, _qkv, _qkNorm, _heads, cos, sin, ZImageConfig.QkNormEps);
            return;
        }
        ops.LinearInto(rows, normed, _qkv.Weight);
        // [B, n, 3, H, d] over the rows (a slice of the joint tensor's tokens: strided between batch rows)
        var h = new Tensor(rows.Storage, rows.DType, [rows.Dim(0), n, 3, _heads, _hd], [rows.Strides[0], rows.Strides[1], _dim, _hd, 1], rows.Offset);
        NormRope(ops, h.Select(2, 0), _qkNorm?.Select(0, 0), rope);
        NormRope(ops, h.Select(2, 1), _qkNorm?.Select(0, 1), rope);
    }

    /// <summary>Per-head RMSNorm and RoPE of q or k in place (the rotation alone without qk_norm); per batch row when
    /// the rows' tables differ.</summary>
    static void NormRope(IOps ops, Tensor t, Tensor? weight, ZImageRopeRows rope)
    {
        int rows = t.Dim(1);
        if (!rope.PerBatchRow)
        {
            Apply(t, rope.Row(0, rows));
            return;
        }
        for (int b = 0; b < t.Dim(0); b++) Apply(t.Slice(0, b, 1), rope.Row(b, rows));

        void Apply(Tensor y, (Tensor Cos, Tensor Sin) r)
        {
            if (weight is not null)
            {
                ops.RmsNormRope(y, y, weight, r.Cos, r.Sin, ZImageConfig.QkNormEps, interleaved: true);
                return;
            }
            using var rotated = ops.Rope(y, r.Cos, r.Sin, interleaved: true);
            ops.Copy(y, rotated);
        }
    }

    /// <summary>x + gate_msa·RMSNorm(to_out(attn)), then + gate_mlp·RMSNorm(w2(SiLU(w1 f)·w3 f)) with
    /// f = RMSNorm(·)·(1 + scale_mlp); ungated (gate 1, no scale) without modulation. Each norm and its residual is one
    /// pass (IOps.RmsNormGatedResidual).</summary>
    Tensor Tail(IOps ops, Tensor x, Tensor attn, Mod? mod)
    {
        Tensor x1;
        using (var o = _toOut.Apply(ops, HeadProjection.MergeHeads(attn)))
            x1 = ops.RmsNormGatedResidual(x, mod?.GateMsa, o, _attnNorm2, _eps);
        using (x1)
        {
            using var f = Normed(ops, x1, _ffnNorm1, mod?.ScaleMlp);
            using var h = _w13.Apply(ops, f);
            using var ag = ops.Swiglu(h);
            using var y = _w2.Apply(ops, ag);
            return ops.RmsNormGatedResidual(x1, mod?.GateMlp, y, _ffnNorm2, _eps);
        }
    }
}
