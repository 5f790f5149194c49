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
        var output = model.Forward(ops, inputs);
        int noisy = fixture.Meta.GetInt("noisy_tokens", 0);
        if (noisy <= 0) return new Dictionary<string, Tensor> { ["sample"] = output };
        if (noisy > output.Dim(1))
        {
            output.Dispose();
            throw new FormatException($"{fixture.Dir}/meta.json: noisy_tokens {noisy} is more than the {x.Dim(1)} tokens of in.hidden_states");
        }
        try
        {
            return new Dictionary<string, Tensor>
            {
                ["sample_full"] = output,
                ["sample"] = ops.Contiguous(output.Slice(1, 0, noisy)),
            };
        }
        catch
        {
            output.Dispose();
            throw;
        }
    }
}
