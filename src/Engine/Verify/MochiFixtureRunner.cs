using XDit.Kernels;
using XDit.Models;
using XDit.Models.Mochi;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>Fixtures of MochiTransformer3DModel: hidden_states [B, C, F, H, W], encoder_hidden_states, timestep,
/// encoder_attention_mask (1 kept, 0 padded) → out.sample [B, C, F, H, W].</summary>
public sealed class MochiFixtureRunner : IFixtureRunner
{
    public bool Handles(JsonConfig meta) => meta.GetString("model", null) == MochiConfig.ClassName;

    public IReadOnlyDictionary<string, Tensor> Run(FixtureCase fixture, IOps ops)
    {
        using var model = MochiTransformer.Load(fixture.Dir, ops);
        using var up = new FixtureUploads(fixture, ops);
        return new Dictionary<string, Tensor> { ["sample"] = model.Forward(ops, up.TextConditioned()) };
    }
}
