using XDit.Kernels;
using XDit.Models;
using XDit.Models.Sana;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>Fixtures of SanaTransformer2DModel: one forward from hidden_states, encoder_hidden_states,
/// encoder_attention_mask, timestep → out.sample.</summary>
public sealed class SanaFixtureRunner : IFixtureRunner
{
    public bool Handles(JsonConfig meta) => meta.GetString("model", null) == SanaConfig.ClassName;

    public IReadOnlyDictionary<string, Tensor> Run(FixtureCase fixture, IOps ops)
    {
        using var model = SanaTransformer.Load(fixture.Dir, ops);
        using var up = new FixtureUploads(fixture, ops);
        return new Dictionary<string, Tensor> { ["sample"] = model.Forward(ops, up.TextConditioned()) };
    }
}
