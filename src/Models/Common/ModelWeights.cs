using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models;

/// <summary>
/// Loads a model's weights by their diffusers/transformers names from a checkpoint onto a backend, checking each
/// shape against what the config implies. Keeps every uploaded tensor and disposes them with the model.
/// </summary>
public sealed class ModelWeights : IDisposable
{
    readonly List<Tensor> _loaded = new();

    public ModelWeights(ITensorSource source, IOps ops) { Source = source; Ops = ops; }

    public ITensorSource Source { get; }
    public IOps Ops { get; }

    public bool Has(string name) => Source.Contains(name);

    /// <summary>The tensor named <paramref name="name"/>, on the backend, after checking its shape
    /// (pass no shape to skip the check).</summary>
    public Tensor Get(string name, params int[] expectedShape) => Load(name, expectedShape, castTo: null);

    /// <summary>
    /// A weight or bias of a GEMM or convolution, in the backend's <see cref="IOps.ActivationType"/>. Those ops cast
    /// an operand of another float dtype to the activations' on every call (CudaOps running bf16 over an f16 or f32
    /// checkpoint); casting once here gives the same numbers without the per-step cost, as diffusers' torch_dtype
    /// does at load. Norm weights and embedding tables keep the checkpoint's dtype (<see cref="Get"/>): their kernels
    /// read them in float32.
    /// </summary>
    public Tensor GetOperand(string name, params int[] expectedShape) => Load(name, expectedShape, castTo: Ops.ActivationType);

    Tensor Load(string name, int[] expectedShape, DType? castTo)
    {
        // the source checks the shape (or, making its tensors up, answers in it)
        bool shaped = expectedShape.Length > 0;
        var info = shaped ? Source.Info(name, expectedShape) : Source.Info(name);
        using var host = shaped ? Source.Read(name, expectedShape) : Source.Read(name);
        Tensor t;
        try
        {
            t = Ops.Upload(host);
            if (castTo is { } dt && t.DType != dt && t.DType.IsFloat() && dt.IsFloat())
            {
                using var uploaded = t;
                t = Ops.Cast(uploaded, dt);
            }
        }
        catch (DeviceOutOfMemoryException e)
        {
            var before = Bytes > 0 ? $", after {ByteSize.Format(Bytes)} of this checkpoint's weights" : "";
            throw e.While($"{info.File}: tensor '{name}' ({host.DType}, {Shape.Format(info.Shape)}){before}");
        }
        _loaded.Add(t);
        return t;
    }

    /// <summary>
    /// Stacks Linear layers of one input width into one layer [Σ out, in] (and their biases, all or none), so that
    /// projections of the same input run as one GEMM (Q, K and V; the adaptive norms of two streams). The stacked
    /// weight replaces the layers' own (they are freed, so no weight is held twice); each layer comes back as a
    /// view of its rows, still usable on its own.
    /// </summary>
    public (Linear Stacked, Linear[] Parts) Stack(params Linear[] layers)
    {
        if (layers.Length == 0) throw new ArgumentException("Stack: no layers");
        int k = layers[0].InFeatures;
        bool bias = layers[0].Bias is not null;
        foreach (var l in layers)
            if (l.InFeatures != k || (l.Bias is not null) != bias)
                throw new ArgumentException($"Stack: layers of input width {l.InFeatures} (bias: {l.Bias is not null}) and {k} (bias: {bias}) do not stack");
        var w = StackRows(layers.Select(l => l.Weight).ToArray());
        var b = bias ? StackRows(layers.Select(l => l.Bias!).ToArray()) : null;
        var parts = new Linear[layers.Length];
        int at = 0;
        for (int i = 0; i < layers.Length; i++)
        {
            int n = layers[i].OutFeatures;
            parts[i] = new Linear(w.Slice(0, at, n), b?.Slice(0, at, n));
            at += n;
        }
        return (new Linear(w, b), parts);
    }

    /// <summary>
    /// Cuts a Linear layer over a concatenated input [out, Σ in] into one layer per part of the input [out, in_i]
    /// (the bias goes with the first), so the product over the concatenation is the sum of the parts' products and
    /// the concatenation is never built (Flux's single-block proj_out over [attention, MLP]). The parts are dense
    /// copies that replace the layer's weight (freed).
    /// </summary>
    public Linear[] SplitColumns(Linear layer, params int[] widths)
    {
        if (widths.Sum() != layer.InFeatures)
            throw new ArgumentException($"SplitColumns: widths {string.Join(" + ", widths)} do not make the layer's input width {layer.InFeatures}");
        if (!_loaded.Contains(layer.Weight)) throw new ArgumentException($"SplitColumns: {layer.Weight} was not loaded by these weights");
        var parts = new Linear[widths.Length];
        int at = 0;
        for (int i = 0; i < widths.Length; i++)
        {
            var w = Ops.Contiguous(layer.Weight.Slice(1, at, widths[i]));
            _loaded.Add(w);
            parts[i] = new Linear(w, i == 0 ? layer.Bias : null);
            at += widths[i];
        }
        _loaded.Remove(layer.Weight);
        layer.Weight.Dispose();
        return parts;
    }

    /// <summary>The tensors concatenated along axis 0, owned here in their place (they are disposed).</summary>
    Tensor StackRows(Tensor[] parts)
    {
        foreach (var p in parts)
            if (!_loaded.Contains(p)) throw new ArgumentException($"Stack: {p} was not loaded by these weights");
        var t = Ops.Concat(0, parts);
        foreach (var p in parts)
        {
            _loaded.Remove(p);
            p.Dispose();
        }
        _loaded.Add(t);
        return t;
    }

    /// <summary>All weights, unscoped: models load through <see cref="WeightScope.Pp(string)"/> from here.</summary>
    public WeightScope Root => new(this);

    /// <summary>Bytes of all weights uploaded so far.</summary>
    public long Bytes => _loaded.Sum(t => t.ByteCount);

    public void Dispose()
    {
        foreach (var t in _loaded) t.Dispose();
        _loaded.Clear();
    }
}

/// <summary>A Linear layer's weight [out, in] and optional bias [out].</summary>
public readonly record struct Linear(Tensor Weight, Tensor? Bias)
{
    public int InFeatures => Weight.Dim(1);
    public int OutFeatures => Weight.Dim(0);
    public Tensor Apply(IOps ops, Tensor x, Activation act = Activation.None) => ops.Linear(x, Weight, Bias, act);
}
