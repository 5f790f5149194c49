using XDit.Kernels;
using XDit.Models;
using XDit.Models.Wan;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>Fixtures of WanTransformer3DModel: hidden_states [B, C, F, H, W], encoder_hidden_states (UMT5's states,
/// zeroed past each prompt), timestep one per row → out.sample [B, C, F, H, W].</summary>
public sealed class WanFixtureRunner : IFixtureRunner
{
    public bool Handles(JsonConfig meta) => meta.GetString("model", null) == WanConfig.ClassName;

    public IReadOnlyDictionary<string, Tensor> Run(FixtureCase fixture, IOps ops)
    {
        using var model = WanTransformer.Load(fixture.Dir, ops);
        using var up = new FixtureUploads(fixture, ops);
        var inputs = new DitInputs
        {
            HiddenStates = up["hidden_states"],
            EncoderHiddenStates = up["encoder_hidden_states"],
            Timestep = fixture.InputFloats("timestep"),
        };
        return new Dictionary<string, Tensor> { ["sample"] = model.Forward(ops, inputs) };
    }
}
