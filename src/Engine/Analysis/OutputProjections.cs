using XDit.Kernels;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Engine.Analysis;

/// <summary>
/// The output projections of the attention layers (to_out.0 for the image tokens, to_add_out for the text tokens of
/// joint attention), read from the transformer's checkpoint by the layer's name. The engine's attention hook sees a
/// layer's output before the model projects it; DiTCacheAnalysis' A is after. Applying the projection here again
/// (one extra GEMM per layer and step, only while analysing) gives the tool's A without touching the models. A layer
/// without the weight (Flux's single blocks, SD3's last block's text side) keeps the raw output, as the tool does.
/// </summary>
public sealed class OutputProjections : IDisposable
{
    readonly ITensorSource _source;
    readonly bool _ownsSource;
    readonly Dictionary<string, Linear?> _loaded = new();
    readonly List<Tensor> _tensors = new();

    public OutputProjections(ITensorSource source, bool ownsSource)
    {
        _source = source;
        _ownsSource = ownsSource;
    }

    /// <summary>Opens the checkpoint of a pipeline folder's transformer/.</summary>
    public static OutputProjections ForPipelineFolder(string transformerDir) => new(Checkpoint.Open(transformerDir), ownsSource: true);

    /// <summary>The projected output [B, N, D] of <paramref name="output"/> [B, N, H, d] (owned by the caller),
    /// or null where the layer has no such projection.</summary>
    public Tensor? Apply(IOps ops, string layer, Tensor output, bool text)
    {
        var linear = Find(ops, $"{layer}.{(text ? "to_add_out" : "to_out.0")}");
        if (linear is null) return null;
        using var contiguous = output.IsContiguous ? null : ops.Contiguous(output);
        var o = contiguous ?? output;
        int features = 1;
        for (int i = 2; i < o.Rank; i++) features *= o.Dim(i);
        if (features != linear.Value.InFeatures)
            throw new InvalidOperationException($"{_source.Path}: {layer}: the attention output has {features} features per token, the output projection takes {linear.Value.InFeatures}");
        return linear.Value.Apply(ops, o.Reshape(o.Dim(0), o.Dim(1), features));
    }

    Linear? Find(IOps ops, string prefix)
    {
        if (_loaded.TryGetValue(prefix, out var known)) return known;
        Linear? linear = null;
        if (_source.Contains(prefix + ".weight"))
        {
            var w = Load(ops, prefix + ".weight");
            var b = _source.Contains(prefix + ".bias") ? Load(ops, prefix + ".bias") : null;
            linear = new Linear(w, b);
        }
        _loaded[prefix] = linear;
        return linear;
    }

    Tensor Load(IOps ops, string name)
    {
        using var host = _source.ReadF32(name);
        var t = ops.Upload(host);
        if (t.DType != ops.ActivationType)
        {
            using var f32 = t;
            t = ops.Cast(f32, ops.ActivationType);
        }
        _tensors.Add(t);
        return t;
    }

    public void Dispose()
    {
        foreach (var t in _tensors) t.Dispose();
        _tensors.Clear();
        _loaded.Clear();
        if (_ownsSource) _source.Dispose();
    }
}
