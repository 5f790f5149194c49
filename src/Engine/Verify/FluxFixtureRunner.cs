using XDit.Kernels;
using XDit.Models;
using XDit.Models.Flux;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>Fixtures of FluxTransformer2DModel: packed hidden_states, encoder_hidden_states, pooled_projections,
/// timestep (σ), guidance, img_ids, txt_ids → packed sample. A Flux Kontext case (meta "noisy_tokens") feeds the
/// noisy and reference tokens together and compares the whole output (sample_full) and, as the pipeline keeps it,
/// its first noisy_tokens rows (sample).</summary>
public sealed class FluxFixtureRunner : IFixtureRunner
{
    public bool Handles(JsonConfig meta) => meta.GetString("model", null) == FluxConfig.ClassName;

    public IReadOnlyDictionary<string, Tensor> Run(FixtureCase fixture, IOps ops)
    {
        using var model = FluxTransformer.Load(fixture.Dir, ops);
        using var x = fixture.UploadInput(ops, "hidden_states");
        using var ctx = fixture.UploadInput(ops, "encoder_hidden_states");
        using var pooled = fixture.UploadInput(ops, "pooled_projections");
        using var imgIds = fixture.UploadInput(ops, "img_ids");
        using var txtIds = fixture.UploadInput(ops, "txt_ids");
        var inputs = new DitInputs
        {
            HiddenStates = x,
            EncoderHiddenStates = ctx,
            PooledProjections = pooled,
            Timestep = fixture.InputFloats("timestep"),
            Guidance = fixture.HasInput("guidance") ? fixture.InputFloats("guidance") : null,
            ImgIds = imgIds,
            TxtIds = txtIds,
        };
        return fixture.NoisyTokenOutputs(ops, model.Forward(ops, inputs));
    }
}
