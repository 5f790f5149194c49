using XDit.Runtime;

namespace XDit.Models.Layers;

/// <summary>The modulation of diffusers' AdaLayerNormZeroSingle (Flux's single blocks) by name: one shift, scale
/// and gate [B, D] shared by the attention and the MLP. Owns the <see cref="Modulation"/> it names.</summary>
public sealed class AdaLnSingleParts : IDisposable
{
    readonly Modulation _m;

    public AdaLnSingleParts(Modulation m)
    {
        if (m.Count != 3) throw new ArgumentException($"AdaLayerNormZeroSingle modulation has 3 parts, got {m.Count}");
        _m = m;
    }

    public Tensor Shift => _m[0];
    public Tensor Scale => _m[1];
    public Tensor Gate => _m[2];

    public void Dispose() => _m.Dispose();
}
