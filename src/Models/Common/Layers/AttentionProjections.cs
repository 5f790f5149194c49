using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Layers;

/// <summary>
/// The projections of a plain diffusers Attention (to_q, to_k, to_v, to_out.0) for self- or cross-attention:
/// queries from one sequence, keys and values from another (the same one for self-attention), split into heads;
/// the attention itself is the engine's (<see cref="IAttention"/>), so a layer can be handed whole to an
/// <see cref="IModuleAttention"/>. Joint attention (SD3, Flux) uses <see cref="HeadProjection"/> per stream instead.
/// </summary>
public sealed class AttentionProjections
{
    readonly Linear _q, _k, _v, _out;
    readonly Linear? _qkv, _kv;   // to_q/k/v stacked (self-attention), to_k/v stacked (cross-attention): one GEMM

    AttentionProjections(Linear q, Linear k, Linear v, Linear @out, int heads, Linear? qkv, Linear? kv)
    {
        if (q.OutFeatures % heads != 0)
            throw new ArgumentException($"attention width {q.OutFeatures} is not a multiple of {heads} heads");
        _q = q; _k = k; _v = v; _out = @out;
        _qkv = qkv; _kv = kv;
        Heads = heads;
    }

    /// <summary>Loads to_q [dim, dim], to_k and to_v [dim, kvDim] (biases when <paramref name="bias"/>) and
    /// to_out.0 [dim, dim] + bias from the attention's scope, stacked for few GEMMs: q, k and v where queries and keys
    /// have one width (one GEMM for self-attention), and k and v always (one GEMM for cross-attention).</summary>
    public static AttentionProjections Load(WeightScope w, int dim, int kvDim, int heads, bool bias)
    {
        var (q, k, v) = (w.Linear("to_q", dim, dim, bias), w.Linear("to_k", kvDim, dim, bias), w.Linear("to_v", kvDim, dim, bias));
        var output = w.Linear("to_out.0", dim, dim, true);
        if (kvDim == dim)
        {
            // k and v are adjacent rows of the stack: a view of them serves cross-attention of this width
            var (qkv, parts) = w.Stack(q, k, v);
            var kvRows = new Linear(qkv.Weight.Slice(0, dim, 2 * dim), qkv.Bias?.Slice(0, dim, 2 * dim));
            return new(parts[0], parts[1], parts[2], output, heads, qkv, kvRows);
        }
        var (kv, kvParts) = w.Stack(k, v);
        return new(q, kvParts[0], kvParts[1], output, heads, null, kv);
    }

    public int Heads { get; }
    public int HeadDim => _q.OutFeatures / Heads;

    /// <summary>to_q of <paramref name="queries"/>, to_k and to_v of <paramref name="context"/>, each [B, N, H, d]
    /// the caller disposes, all three after their last use: from the stacked GEMMs they are views of one result,
    /// which the first of them that shares it owns.</summary>
    public (Tensor Q, Tensor K, Tensor V) Project(IOps ops, Tensor queries, Tensor context)
    {
        int b = queries.Dim(0), nq = queries.Dim(1), nk = context.Dim(1), hd = HeadDim;
        if (_qkv is { } qkv && ReferenceEquals(queries, context))
        {
            var heads = qkv.Apply(ops, queries).TakeReshaped(b, nq, 3, Heads, hd);
            return (Owner(heads, heads.Select(2, 0)), heads.Select(2, 1), heads.Select(2, 2));
        }
        Tensor? q = null;
        try
        {
            q = _q.Apply(ops, queries).TakeReshaped(b, nq, Heads, hd);
            if (_kv is { } kv)
            {
                var heads = kv.Apply(ops, context).TakeReshaped(b, nk, 2, Heads, hd);
                return (q, Owner(heads, heads.Select(2, 0)), heads.Select(2, 1));
            }
            Tensor? k = null;
            try
            {
                k = _k.Apply(ops, context).TakeReshaped(b, nk, Heads, hd);
                var v = _v.Apply(ops, context).TakeReshaped(b, nk, Heads, hd);
                return (q, k, v);
            }
            catch { k?.Dispose(); throw; }
        }
        catch { q?.Dispose(); throw; }
    }

    /// <summary><paramref name="view"/> of <paramref name="result"/>, taking over its storage (the result is dropped
    /// undisposed: a Tensor has no finalizer), so disposing the view frees the result.</summary>
    static Tensor Owner(Tensor result, Tensor view)
        => new(result.Storage, result.DType, view.Dims, view.Strides.ToArray(), view.Offset, owns: result.OwnsStorage);

    /// <summary>to_out of an attention result [B, N, H, d] → [B, N, D].</summary>
    public Tensor OutProject(IOps ops, Tensor o)
    {
        using var merged = o.IsContiguous ? null : ops.Contiguous(o);
        var t = merged ?? o;
        return _out.Apply(ops, t.Reshape(t.Dim(0), t.Dim(1), t.Dim(2) * t.Dim(3)));
    }

    /// <summary>Projects, runs <paramref name="attention"/> on <paramref name="layer"/> and applies to_out →
    /// [B, Nq, D] (where the result is not added to a residual straight away: SDXL's transformer blocks).</summary>
    public Tensor Attend(IOps ops, IAttention attention, string layer, AttentionKind kind, Tensor queries, Tensor context,
        AttentionOptions? options = null)
    {
        using var o = Run(ops, attention, layer, kind, queries, context, options);
        return OutProject(ops, o);
    }

    /// <summary>to_out.0's bias: what a gated epilogue multiplies by its gate (<see cref="IOps.PrepareGatedEpilogues"/>).</summary>
    public Tensor? OutBias => _out.Bias;

    /// <summary>Projects, runs <paramref name="attention"/> on <paramref name="layer"/> and adds to_out of the result,
    /// times <paramref name="gate"/> (null: 1), to <paramref name="residual"/> [B, Nq, D] in to_out's GEMM epilogue
    /// (<see cref="IOps.LinearGatedResidualInto"/>): in place, or into <paramref name="output"/> leaving the residual
    /// intact. The projected attention output is never written out on its own.</summary>
    public void AttendResidualInto(IOps ops, IAttention attention, string layer, AttentionKind kind, Tensor queries, Tensor context,
        Tensor residual, Tensor? gate, Tensor? output = null, AttentionOptions? options = null)
    {
        using var o = Run(ops, attention, layer, kind, queries, context, options);
        using var merged = o.IsContiguous ? null : ops.Contiguous(o);
        var t = merged ?? o;
        ops.LinearGatedResidualInto(residual, t.Reshape(t.Dim(0), t.Dim(1), t.Dim(2) * t.Dim(3)), _out.Weight, _out.Bias, gate, output);
    }

    /// <summary>Projects and runs <paramref name="attention"/> on <paramref name="layer"/> → its output [B, Nq, H, d].</summary>
    Tensor Run(IOps ops, IAttention attention, string layer, AttentionKind kind, Tensor queries, Tensor context, AttentionOptions? options)
    {
        var (q, k, v) = Project(ops, queries, context);
        AttentionResult result;
        try { result = attention.Run(ops, new AttentionCall { Layer = layer, Kind = kind, Q = q, K = k, V = v, Options = options }); }
        finally { q.Dispose(); k.Dispose(); v.Dispose(); }
        result.JointOutput?.Dispose();
        return result.Output;
    }
}
