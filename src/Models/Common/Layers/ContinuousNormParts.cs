using XDit.Runtime;

namespace XDit.Models.Layers;

/// <summary>The modulation of diffusers' AdaLayerNormContinuous by name: scale then shift [B, D] (that order,
/// unlike AdaLN-zero). Owns the <see cref="Modulation"/> it names.</summary>
public sealed class ContinuousNormParts : IDisposable
{
    readonly Modulation _m;

    public ContinuousNormParts(Modulation m)
    {
        if (m.Count != 2) throw new ArgumentException($"AdaLayerNormContinuous modulation has 2 parts, got {m.Count}");
        _m = m;
    }

    public Tensor Scale => _m[0];
    public Tensor Shift => _m[1];

    public void Dispose() => _m.Dispose();
}
