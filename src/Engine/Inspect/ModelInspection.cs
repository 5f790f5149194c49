using XDit.Runtime;

namespace XDit.Engine.Inspect;

/// <summary>One component's weights as listed by `xdit inspect`: where they are and every tensor, sorted by name.</summary>
public sealed record ComponentWeights(string Name, string WeightsPath, IReadOnlyList<TensorInfo> Tensors)
{
    public long Parameters => Tensors.Sum(t => t.NumElements);
    public long Bytes => Tensors.Sum(t => t.ByteLength);
}

/// <summary>What `xdit inspect` found at a path: a description of it and the components that hold weights.</summary>
public sealed record ModelInspection(string Path, string Description, IReadOnlyList<ComponentWeights> Components)
{
    public long Parameters => Components.Sum(c => c.Parameters);
    public long Bytes => Components.Sum(c => c.Bytes);
}
