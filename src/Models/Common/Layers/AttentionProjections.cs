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

    AttentionProjections(Linear q, Linear k, Linear v, Linear @out, int heads)
    {
        if (q.OutFeatures % heads != 0)
            throw new ArgumentException($"attention width {q.OutFeatures} is not a multiple of {heads} heads");
        _q = q; _k = k; _v = v; _out = @out;
        Heads = heads;
    }

    /// <summary>Loads to_q [dim, dim], to_k and to_v [dim, kvDim] (biases when <paramref name="bias"/>) and
    /// to_out.0 [dim, dim] + bias from the attention's scope.</summary>
    public static AttentionProjections Load(WeightScope w, int dim, int kvDim, int heads, bool bias) => new(
        w.Linear("to_q", dim, dim, bias),
        w.Linear("to_k", kvDim, dim, bias),
        w.Linear("to_v", kvDim, dim, bias),
        w.Linear("to_out.0", dim, dim, true),
        heads);

    public int Heads { get; }
    public int HeadDim => _q.OutFeatures / Heads;

    /// <summary>to_q of <paramref name="queries"/>, to_k and to_v of <paramref name="context"/>, each a fresh
    /// [B, N, H, d] the caller disposes.</summary>
    public (Tensor Q, Tensor K, Tensor V) Project(IOps ops, Tensor queries, Tensor context)
    {
        int b = queries.Dim(0), nq = queries.Dim(1), nk = context.Dim(1), hd = HeadDim;
        Tensor? q = null, k = null;
        try
        {
            q = _q.Apply(ops, queries).TakeReshaped(b, nq, Heads, hd);
            k = _k.Apply(ops, context).TakeReshaped(b, nk, Heads, hd);
            var v = _v.Apply(ops, context).TakeReshaped(b, nk, Heads, hd);
            return (q, k, v);
        }
        catch { q?.Dispose(); k?.Dispose(); throw; }
    }

    /// <summary>to_out of an attention result [B, N, H, d] → [B, N, D].</summary>
    public Tensor OutProject(IOps ops, Tensor o)
    {
        using var merged = o.IsContiguous ? null : ops.Contiguous(o);
        var t = merged ?? o;
        return _out.Apply(ops, t.Reshape(t.Dim(0), t.Dim(1), t.Dim(2) * t.Dim(3)));
    }

    /// <summary>Projects, runs <paramref name="attention"/> on <paramref name="layer"/> and applies to_out →
    /// [B, Nq, D].</summary>
    public Tensor Attend(IOps ops, IAttention attention, string layer, AttentionKind kind, Tensor queries, Tensor context,
        AttentionOptions? options = null)
    {
        var (q, k, v) = Project(ops, queries, context);
        AttentionResult result;
        try { result = attention.Run(ops, new AttentionCall { Layer = layer, Kind = kind, Q = q, K = k, V = v, Options = options }); }
        finally { q.Dispose(); k.Dispose(); v.Dispose(); }
        result.JointOutput?.Dispose();
        using var o = result.Output;
        return OutProject(ops, o);
    }
}
