using XDit.Kernels;
using XDit.Models;
using XDit.Models.Flux2;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>Fixtures of Flux2Transformer2DModel: packed hidden_states (the noisy tokens, then any reference-image
/// tokens, as Flux2Pipeline concatenates them), encoder_hidden_states, timestep (σ), guidance, img_ids and txt_ids
/// (t, h, w, l) → packed sample_full over every row and, as the pipeline keeps it, sample: its first noisy_tokens rows
/// (meta.json).</summary>
public sealed class Flux2FixtureRunner : IFixtureRunner
{
    public bool Handles(JsonConfig meta) => meta.GetString("model", null) == Flux2Config.ClassName;

    public IReadOnlyDictionary<string, Tensor> Run(FixtureCase fixture, IOps ops)
    {
        using var model = Flux2Transformer.Load(fixture.Dir, ops);
        using var x = fixture.UploadInput(ops, "hidden_states");
        using var ctx = fixture.UploadInput(ops, "encoder_hidden_states");
        using var imgIds = fixture.UploadInput(ops, "img_ids");
        using var txtIds = fixture.UploadInput(ops, "txt_ids");
        var inputs = new DitInputs
        {
            HiddenStates = x,
            EncoderHiddenStates = ctx,
            Timestep = fixture.InputFloats("timestep"),
            Guidance = fixture.HasInput("guidance") ? fixture.InputFloats("guidance") : null,
            ImgIds = imgIds,
            TxtIds = txtIds,
        };
        return fixture.NoisyTokenOutputs(ops, model.Forward(ops, inputs));
    }
}
