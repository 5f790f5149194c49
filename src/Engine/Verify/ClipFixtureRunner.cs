using XDit.Kernels;
using XDit.Models.Clip;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>CLIPTextModel(WithProjection) cases: in.input_ids [B, S] → last_hidden_state, penultimate_hidden_state,
/// pooler_output and (with a projection) text_embeds.</summary>
public sealed class ClipFixtureRunner : IFixtureRunner
{
    public bool Handles(JsonConfig meta) => ClipTextConfig.SupportedArchitectures.Contains(meta.GetString("model", null));

    public IReadOnlyDictionary<string, Tensor> Run(FixtureCase fixture, IOps ops)
    {
        using var model = ClipTextModel.Load(fixture.Dir, ops);
        using var idsTensor = fixture.RawInput("input_ids");
        if (idsTensor.DType != DType.I64 || idsTensor.Rank != 2)
            throw new FormatException($"{fixture.Dir}: in.input_ids must be I64 [B, S], got {idsTensor}");
        var ids = idsTensor.Span<long>().ToArray();
        var output = model.Encode(ops, ids, idsTensor.Dim(0), idsTensor.Dim(1));
        var result = new Dictionary<string, Tensor>
        {
            ["last_hidden_state"] = output.LastHiddenState,
            ["penultimate_hidden_state"] = output.PenultimateHiddenState,
            ["pooler_output"] = output.Pooled,
        };
        if (output.TextEmbeds is not null) result["text_embeds"] = output.TextEmbeds;
        return result;
    }
}
