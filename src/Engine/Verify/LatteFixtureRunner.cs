using XDit.Kernels;
using XDit.Models;
using XDit.Models.Latte;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>Fixtures of LatteTransformer3DModel: hidden_states [B, C, F, H, W], encoder_hidden_states, timestep
/// (stored F32, int64 in the call) → out.sample [B, C_out, F, H, W]; meta.json's enable_temporal_attentions (default
/// true) is the forward argument of that name.</summary>
public sealed class LatteFixtureRunner : IFixtureRunner
{
    public bool Handles(JsonConfig meta) => meta.GetString("model", null) == LatteConfig.ClassName;

    public IReadOnlyDictionary<string, Tensor> Run(FixtureCase fixture, IOps ops)
    {
        bool temporal = fixture.Meta.GetBool("enable_temporal_attentions", true);
        using var model = LatteTransformer.Load(fixture.Dir, ops, temporal);
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
