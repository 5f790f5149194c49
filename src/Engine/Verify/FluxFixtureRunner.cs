using XDit.Kernels;
using XDit.Models;
using XDit.Models.Flux;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>Fixtures of FluxTransformer2DModel: packed hidden_states, encoder_hidden_states, pooled_projections,
/// timestep (σ), guidance, img_ids, txt_ids → packed sample.</summary>
public sealed class FluxFixtureRunner : IFixtureRunner
{
    public bool Handles(JsonConfig meta) => meta.GetString("model", null) == FluxConfig.ClassName;

    public IReadOnlyDictionary<string, Tensor> Run(FixtureCase fixture, IOps ops)
    {
        using var model = FluxTransformer.Load(fixture.Dir, ops);
        using var x = Upload(fixture, ops, "hidden_states");
        using var ctx = Upload(fixture, ops, "encoder_hidden_states");
        using var pooled = Upload(fixture, ops, "pooled_projections");
        using var imgIds = Upload(fixture, ops, "img_ids");
        using var txtIds = Upload(fixture, ops, "txt_ids");
        var inputs = new DitInputs
        {
            HiddenStates = x,
            EncoderHiddenStates = ctx,
            PooledProjections = pooled,
            Timestep = Floats(fixture, "timestep"),
            Guidance = fixture.HasInput("guidance") ? Floats(fixture, "guidance") : null,
            ImgIds = imgIds,
            TxtIds = txtIds,
        };
        return new Dictionary<string, Tensor> { ["sample"] = model.Forward(ops, inputs) };
    }

    /// <summary>Input `in.NAME` moved to the backend.</summary>
    static Tensor Upload(FixtureCase fixture, IOps ops, string name)
    {
        using var host = fixture.Input(name);
        return ops.Upload(host);
    }

    static float[] Floats(FixtureCase fixture, string name)
    {
        using var host = fixture.Input(name);
        return host.ToFloatArray();
    }
}
