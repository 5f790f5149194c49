using XDit.Runtime;

namespace XDit.Models.Layers;

/// <summary>
/// The modulation of an AdaLN-zero block by name: shift/scale/gate of the attention (msa) and of the MLP, and for
/// SD3.5's dual blocks (SD35AdaLayerNormZeroX, 9 parts) the triple of the second attention. Each part is [B, D].
/// Owns the <see cref="Modulation"/> it names and disposes it.
/// </summary>
public sealed class AdaLnZeroParts : IDisposable
{
    readonly Modulation _m;

    public AdaLnZeroParts(Modulation m)
    {
        if (m.Count is not (6 or 9))
            throw new ArgumentException($"AdaLN-zero modulation has 6 parts (9 with attn2), got {m.Count}");
        _m = m;
    }

    public Tensor ShiftMsa => _m[0];
    public Tensor ScaleMsa => _m[1];
    public Tensor GateMsa => _m[2];
    public Tensor ShiftMlp => _m[3];
    public Tensor ScaleMlp => _m[4];
    public Tensor GateMlp => _m[5];

    /// <summary>Whether the parts of SD3.5's second attention are there.</summary>
    public bool HasAttn2 => _m.Count == 9;
    public Tensor ShiftMsa2 => Attn2(6);
    public Tensor ScaleMsa2 => Attn2(7);
    public Tensor GateMsa2 => Attn2(8);

    Tensor Attn2(int i) => HasAttn2 ? _m[i] : throw new InvalidOperationException("this modulation has no attn2 parts (6 parts, not SD35AdaLayerNormZeroX's 9)");

    public void Dispose() => _m.Dispose();
}
