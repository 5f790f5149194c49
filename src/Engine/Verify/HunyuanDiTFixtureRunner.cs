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
        var uploaded = new List<Tensor>();
        Tensor Up(string name)
        {
            var t = fixture.UploadInput(ops, name);
            uploaded.Add(t);
            return t;
        }
        long[]? style = null;
        if (fixture.HasInput("style"))
        {
            using var s = fixture.RawInput("style");
            if (s.DType != DType.I64 || s.Rank != 1)
                throw new FormatException($"{fixture.Dir}: in.style must be I64 [B], got {s.DType} {Shape.Format(s.ShapeSpan)}");
            style = s.Span<long>().ToArray();
        }
        try
        {
            var inputs = new DitInputs
            {
                HiddenStates = Up("hidden_states"),
                Timestep = fixture.InputFloats("timestep"),
                EncoderHiddenStates = Up("encoder_hidden_states"),
                EncoderAttentionMask = Up("text_embedding_mask"),
                EncoderHiddenStatesT5 = Up("encoder_hidden_states_t5"),
                EncoderAttentionMaskT5 = Up("text_embedding_mask_t5"),
                ImageRotaryCos = Up("image_rotary_emb_cos"),
                ImageRotarySin = Up("image_rotary_emb_sin"),
                ImageMetaSize = fixture.HasInput("image_meta_size") ? Up("image_meta_size") : null,
                Style = style,
            };
            return new Dictionary<string, Tensor> { ["sample"] = model.Forward(ops, inputs) };
        }
        finally
        {
            foreach (var t in uploaded) t.Dispose();
        }
    }
}
