using XDit.Kernels;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Models.Vae;

/// <summary>
/// The decoder mid block's self-attention (diffusers Attention with one head of width C, group norm, residual
/// connection, rescale 1): out = x + to_out(SDPA(q, k, v)) over the tokens of GN(x) taken row-major.
/// </summary>
public sealed class VaeAttentionBlock
{
    public VaeAttentionBlock(WeightScope w, int channels, int groups)
    {
        Channels = channels;
        Norm = VaeGroupNorm.Load(w.Pp("group_norm"), channels, groups);
        Q = LoadLinear(w, "to_q", "query", channels);
        K = LoadLinear(w, "to_k", "key", channels);
        V = LoadLinear(w, "to_v", "value", channels);
        Out = LoadLinear(w, "to_out.0", "proj_attn", channels);
    }

    public int Channels { get; }
    public VaeGroupNorm Norm { get; }
    public Linear Q { get; }
    public Linear K { get; }
    public Linear V { get; }
    public Linear Out { get; }

    public Tensor Forward(IOps ops, Tensor x, VaeSpatialOps spatial)
    {
        int b = x.Dim(0), c = x.Dim(1), h = x.Dim(2), wd = x.Dim(3);
        Tensor tokens;
        using (var n = spatial.GroupNorm(ops, x, Norm))
            tokens = ops.Contiguous(n.Reshape(b, c, h * wd).Permute(0, 2, 1));   // [B, HW, C]
        Tensor o;
        using (tokens) o = spatial.MidAttention(ops, tokens, this);
        using (o)
        {
            using var image = ops.Contiguous(o.Permute(0, 2, 1));                // [B, C, HW]
            return ops.Add(x, image.Reshape(b, c, h, wd));
        }
    }

    /// <summary>Single-head attention of the full token sequence [B, N, C] with itself, projections included → [B, N, C].</summary>
    public Tensor Attend(IOps ops, Tensor tokens)
    {
        int b = tokens.Dim(0), n = tokens.Dim(1);
        using var q = Q.Apply(ops, tokens);
        using var k = K.Apply(ops, tokens);
        using var v = V.Apply(ops, tokens);
        using var a = ops.Attention(q.Reshape(b, n, 1, Channels), k.Reshape(b, n, 1, Channels), v.Reshape(b, n, 1, Channels));
        return Out.Apply(ops, a.Reshape(b, n, Channels));
    }

    /// <summary>Current diffusers names (to_q …) or the old ones (query, key, value, proj_attn), whose weights some
    /// files store as 1×1 convolutions [C, C, 1, 1].</summary>
    static Linear LoadLinear(WeightScope attention, string name, string oldName, int channels)
    {
        var w = attention.Pp(!attention.Pp(name).Has("weight") && attention.Pp(oldName).Has("weight") ? oldName : name);
        var info = w.Source.Info(w.Name("weight"));
        bool linear = info.Shape is [var o, var i] && o == channels && i == channels;
        bool conv = info.Shape is [var o2, var i2, 1, 1] && o2 == channels && i2 == channels;
        if (!linear && !conv) throw new WeightShapeException(info.File, w.Name("weight"), [channels, channels], info.Shape);
        // a 1×1 convolution's weight is asked for in its own shape, then viewed as [C, C] (the loaded tensor stays
        // owned by the weights)
        var weight = linear ? w.GetOperand("weight", channels, channels) : w.GetOperand("weight", channels, channels, 1, 1).Reshape(channels, channels);
        return new Linear(weight, w.GetOperand("bias", channels));
    }
}
