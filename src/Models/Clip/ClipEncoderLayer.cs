using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Clip;

/// <summary>One pre-norm CLIP encoder layer: h += out_proj(causal MHA(LN1(h))); h += fc2(act(fc1(LN2(h)))).</summary>
public sealed class ClipEncoderLayer
{
    readonly ClipTextConfig _config;

    /// <summary>Loads text_model.encoder.layers.{i} from its scope.</summary>
    public ClipEncoderLayer(WeightScope w, ClipTextConfig config)
    {
        _config = config;
        int d = config.HiddenSize, i = config.IntermediateSize;
        Ln1W = w.Get("layer_norm1.weight", d); Ln1B = w.Get("layer_norm1.bias", d);
        Ln2W = w.Get("layer_norm2.weight", d); Ln2B = w.Get("layer_norm2.bias", d);
        var attn = w.Pp("self_attn");
        Q = attn.Linear("q_proj", d, d);
        K = attn.Linear("k_proj", d, d);
        V = attn.Linear("v_proj", d, d);
        Out = attn.Linear("out_proj", d, d);
        var mlp = w.Pp("mlp");
        Fc1 = mlp.Linear("fc1", d, i);
        Fc2 = mlp.Linear("fc2", i, d);
    }

    public Tensor Ln1W { get; } public Tensor Ln1B { get; }
    public Tensor Ln2W { get; } public Tensor Ln2B { get; }
    public Linear Q { get; } public Linear K { get; } public Linear V { get; } public Linear Out { get; }
    public Linear Fc1 { get; } public Linear Fc2 { get; }

    static readonly AttentionOptions CausalAttention = new() { Causal = true };

    /// <summary>h [B, S, W] → new hidden state [B, S, W].</summary>
    public Tensor Forward(IOps ops, Tensor h)
    {
        int b = h.Dim(0), s = h.Dim(1), heads = _config.NumHeads, hd = _config.HeadDim;
        Tensor h1;
        using (var n = ops.LayerNorm(h, Ln1W, Ln1B, _config.LayerNormEps))
        using (var q = Q.Apply(ops, n))
        using (var k = K.Apply(ops, n))
        using (var v = V.Apply(ops, n))
        // Scale 1/√head_dim is the op's default.
        using (var a = ops.Attention(q.Reshape(b, s, heads, hd), k.Reshape(b, s, heads, hd), v.Reshape(b, s, heads, hd), CausalAttention))
        using (var o = Out.Apply(ops, a.Reshape(b, s, heads * hd)))
            h1 = ops.Add(h, o);

        using (h1)
        using (var n = ops.LayerNorm(h1, Ln2W, Ln2B, _config.LayerNormEps))
        using (var f = Fc1.Apply(ops, n, _config.HiddenAct))
        using (var g = Fc2.Apply(ops, f))
            return ops.Add(h1, g);
    }
}
