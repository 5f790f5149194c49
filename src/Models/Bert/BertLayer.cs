using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Bert;

/// <summary>
/// One post-norm BERT layer (encoder.layer.{i}): h1 = LN(h + dense(MHA(h))); out = LN(h1 + dense(act(dense(h1)))).
/// </summary>
public sealed class BertLayer
{
    readonly BertConfig _config;
    readonly Linear _q, _k, _v, _attnOut, _intermediate, _output;
    readonly Tensor _attnLnW, _attnLnB, _outLnW, _outLnB;

    /// <summary>Loads encoder.layer.{i} from its scope.</summary>
    public BertLayer(WeightScope w, BertConfig config)
    {
        _config = config;
        int d = config.HiddenSize, inner = config.IntermediateSize;
        var attention = w.Pp("attention");
        var self = attention.Pp("self");
        _q = self.Linear("query", d, d);
        _k = self.Linear("key", d, d);
        _v = self.Linear("value", d, d);
        var attnOutput = attention.Pp("output");
        _attnOut = attnOutput.Linear("dense", d, d);
        _attnLnW = attnOutput.Get("LayerNorm.weight", d);
        _attnLnB = attnOutput.Get("LayerNorm.bias", d);
        _intermediate = w.Pp("intermediate").Linear("dense", d, inner);
        var output = w.Pp("output");
        _output = output.Linear("dense", inner, d);
        _outLnW = output.Get("LayerNorm.weight", d);
        _outLnB = output.Get("LayerNorm.bias", d);
    }

    /// <summary>h [B, S, D] → [B, S, D]. <paramref name="attention"/> carries the padding bias on keys (scale
    /// 1/√head_dim is the op's default).</summary>
    public Tensor Forward(IOps ops, Tensor h, AttentionOptions attention)
    {
        int b = h.Dim(0), s = h.Dim(1), heads = _config.NumHeads, hd = _config.HeadDim, d = _config.HiddenSize;
        float eps = _config.LayerNormEps;
        Tensor h1;
        using (var q = _q.Apply(ops, h))
        using (var k = _k.Apply(ops, h))
        using (var v = _v.Apply(ops, h))
        using (var a = ops.Attention(q.Reshape(b, s, heads, hd), k.Reshape(b, s, heads, hd), v.Reshape(b, s, heads, hd), attention))
        using (var o = _attnOut.Apply(ops, a.Reshape(b, s, d)))
        using (var r = ops.Add(o, h))
            h1 = ops.LayerNorm(r, _attnLnW, _attnLnB, eps);

        using (h1)
        using (var f = _intermediate.Apply(ops, h1, _config.HiddenAct))
        using (var g = _output.Apply(ops, f))
        using (var r = ops.Add(g, h1))
            return ops.LayerNorm(r, _outLnW, _outLnB, eps);
    }
}
