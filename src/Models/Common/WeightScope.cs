using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models;

/// <summary>
/// A view of a model's weights under one name prefix, the way candle's VarBuilder scopes one with <c>pp</c>:
/// a block takes <c>w.Pp("transformer_blocks").Pp(i)</c> and its layers ask for their own leaf names
/// (<c>attn.Pp("to_q")</c>, then <c>"weight"</c>), so no layer builds a dotted name by hand and a layer
/// loads the same under any parent. Every load goes through <see cref="ModelWeights"/> (shape check, upload,
/// ownership).
/// </summary>
public readonly struct WeightScope
{
    readonly ModelWeights _weights;

    public WeightScope(ModelWeights weights, string prefix = "")
    {
        _weights = weights;
        Prefix = prefix;
    }

    /// <summary>The dotted prefix of this scope ("transformer_blocks.3.attn"), empty at the root. Also the layer's
    /// name in attention calls and error messages.</summary>
    public string Prefix { get; }

    public IOps Ops => _weights.Ops;
    public ITensorSource Source => _weights.Source;

    /// <summary>The scope one level down: "attn" under "transformer_blocks.3" is "transformer_blocks.3.attn".</summary>
    public WeightScope Pp(string name) => new(_weights, Name(name));
    /// <summary>The scope of item <paramref name="index"/> of a module list ("transformer_blocks" → ".3").</summary>
    public WeightScope Pp(int index) => Pp(index.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>The full checkpoint name of <paramref name="leaf"/> in this scope.</summary>
    public string Name(string leaf) => Prefix.Length == 0 ? leaf : Prefix + "." + leaf;

    public bool Has(string leaf) => _weights.Has(Name(leaf));

    /// <summary>The tensor in the checkpoint's dtype (norm weights, tables), shape-checked (no shape: unchecked).</summary>
    public Tensor Get(string leaf, params int[] expectedShape) => _weights.Get(Name(leaf), expectedShape);

    /// <summary>A GEMM or convolution operand, in the activations' dtype (<see cref="ModelWeights.GetOperand"/>).</summary>
    public Tensor GetOperand(string leaf, params int[] expectedShape) => _weights.GetOperand(Name(leaf), expectedShape);

    /// <summary><see cref="Get"/> where the checkpoint has the tensor, else null.</summary>
    /// <summary><see cref="ModelWeights.HostF32"/> of a leaf of this scope.</summary>
    public float[] HostF32(string leaf, params int[] expectedShape) => _weights.HostF32(Name(leaf), expectedShape);
    /// <summary><see cref="ModelWeights.HostScalar"/> of a leaf of this scope.</summary>
    public float HostScalar(string leaf) => _weights.HostScalar(Name(leaf));

    public Tensor? Optional(string leaf, params int[] expectedShape) => Has(leaf) ? Get(leaf, expectedShape) : null;

    /// <summary>Linear layer <paramref name="name"/>: .weight [out, in] and, when <paramref name="bias"/>, .bias [out].</summary>
    public Linear Linear(string name, int inFeatures, int outFeatures, bool bias = true) => Pp(name).Linear(inFeatures, outFeatures, bias);

    /// <summary>This scope as a Linear layer: weight [out, in] and, when <paramref name="bias"/>, bias [out].</summary>
    public Linear Linear(int inFeatures, int outFeatures, bool bias = true)
        => new(GetOperand("weight", outFeatures, inFeatures), bias ? GetOperand("bias", outFeatures) : null);

    /// <summary>Linear layers of one input width as one stacked layer, and each as a view of it (<see cref="ModelWeights.Stack"/>).</summary>
    public (Linear Stacked, Linear[] Parts) Stack(params Linear[] layers) => _weights.Stack(layers);

    /// <summary>Vectors of one length as the rows of one [G, d] tensor (<see cref="ModelWeights.StackVectors"/>).</summary>
    public Tensor StackVectors(params Tensor[] vectors) => _weights.StackVectors(vectors);

    /// <summary>A Linear layer with its output rows' halves swapped (<see cref="ModelWeights.SwapRowHalves"/>).</summary>
    public Linear SwapRowHalves(Linear layer) => _weights.SwapRowHalves(layer);

    /// <summary>A Linear layer over a concatenated input as one layer per part (<see cref="ModelWeights.SplitColumns"/>).</summary>
    public Linear[] SplitColumns(Linear layer, params int[] widths) => _weights.SplitColumns(layer, widths);

    public override string ToString() => Prefix.Length == 0 ? "(root)" : Prefix;
}
