using XDit.Kernels;
using XDit.Models;
using XDit.Models.SD3;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>Fixtures of SD3Transformer2DModel (sd3, sd35): hidden_states, encoder_hidden_states,
/// pooled_projections, timestep → sample.</summary>
public sealed class SD3FixtureRunner : IFixtureRunner
{
    public bool Handles(JsonConfig meta) => meta.GetString("model", null) == SD3Config.ClassName;

    public IReadOnlyDictionary<string, Tensor> Run(FixtureCase fixture, IOps ops)
    {
        using var model = SD3Transformer.Load(fixture.Dir, ops);
        using var x = fixture.UploadInput(ops, "hidden_states");
        using var ctx = fixture.UploadInput(ops, "encoder_hidden_states");
        using var pooled = fixture.UploadInput(ops, "pooled_projections");
        var inputs = new DitInputs
        {
            HiddenStates = x,
            EncoderHiddenStates = ctx,
            PooledProjections = pooled,
            Timestep = fixture.InputFloats("timestep"),
        };
        return new Dictionary<string, Tensor> { ["sample"] = model.Forward(ops, inputs) };
    }
}
