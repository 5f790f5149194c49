using XDit.Kernels;
using XDit.Models;
using XDit.Models.HunyuanDiT;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>Fixtures of HunYuanDiT2DModel: hidden_states, timestep, the BERT and mT5 states with their masks, the
/// rotary tables image_rotary_emb_cos/_sin, and (with the size/style condition) image_meta_size and style (I64)
/// → out.sample.</summary>
public sealed class HunyuanDiTFixtureRunner : IFixtureRunner
{
    public bool Handles(JsonConfig meta) => meta.GetString("model", null) == HunyuanDiTConfig.ClassName;

    public IReadOnlyDictionary<string, Tensor> Run(FixtureCase fixture, IOps ops)
    {
        using var model = HunyuanDiTTransformer.Load(fixture.Dir, ops);
        using var up = new FixtureUploads(fixture, ops);
        long[]? style = null;
        if (fixture.HasInput("style"))
        {
            using var s = fixture.RawInput("style");
            if (s.DType != DType.I64 || s.Rank != 1)
                throw new FormatException($"{fixture.Dir}: in.style must be I64 [B], got {s.DType} {Shape.Format(s.ShapeSpan)}");
            style = s.Span<long>().ToArray();
        }
        var inputs = new DitInputs
        {
            HiddenStates = up["hidden_states"],
            Timestep = fixture.InputFloats("timestep"),
            EncoderHiddenStates = up["encoder_hidden_states"],
            EncoderAttentionMask = up["text_embedding_mask"],
            EncoderHiddenStatesT5 = up["encoder_hidden_states_t5"],
            EncoderAttentionMaskT5 = up["text_embedding_mask_t5"],
            ImageRotaryCos = up["image_rotary_emb_cos"],
            ImageRotarySin = up["image_rotary_emb_sin"],
            ImageMetaSize = up.Optional("image_meta_size"),
            Style = style,
        };
        return new Dictionary<string, Tensor> { ["sample"] = model.Forward(ops, inputs) };
    }
}
