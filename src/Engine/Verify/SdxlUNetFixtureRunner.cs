using XDit.Kernels;
using XDit.Models.Sdxl;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>Fixtures of UNet2DConditionModel (sdxl_unet): sample, timestep, encoder_hidden_states and the
/// added_cond_kwargs text_embeds and time_ids (meta.json lists which it passed) → out.sample.</summary>
public sealed class SdxlUNetFixtureRunner : IFixtureRunner
{
    public bool Handles(JsonConfig meta) => meta.GetString("model", null) == SdxlUNetConfig.ClassName;

    public IReadOnlyDictionary<string, Tensor> Run(FixtureCase fixture, IOps ops)
    {
        var added = fixture.Meta.Has("added_cond_kwargs") ? fixture.Meta.GetStringArray("added_cond_kwargs") : [];
        foreach (var a in added)
            if (a is not ("text_embeds" or "time_ids"))
                throw new NotSupportedException($"{fixture.Dir}: meta.json added_cond_kwargs names '{a}'; only text_embeds and time_ids are known");
        using var model = SdxlUNet.Load(fixture.Dir, ops);
        using var sample = fixture.UploadInput(ops, "sample");
        using var text = fixture.UploadInput(ops, "encoder_hidden_states");
        using var textEmbeds = added.Contains("text_embeds") ? fixture.UploadInput(ops, "text_embeds") : null;
        var inputs = new SdxlUNetInputs
        {
            Sample = sample,
            Timestep = fixture.InputFloats("timestep"),
            EncoderHiddenStates = text,
            TextEmbeds = textEmbeds,
            TimeIds = added.Contains("time_ids") ? fixture.InputFloats("time_ids") : null,
        };
        return new Dictionary<string, Tensor> { ["sample"] = model.Forward(ops, inputs) };
    }
}
