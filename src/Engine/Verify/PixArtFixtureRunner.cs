using XDit.Kernels;
using XDit.Models;
using XDit.Models.PixArt;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>Fixtures of PixArtTransformer2DModel (pixart_alpha with micro-conditions, pixart_sigma without):
/// one forward from hidden_states, encoder_hidden_states, encoder_attention_mask, timestep → out.sample.</summary>
public sealed class PixArtFixtureRunner : IFixtureRunner
{
    public bool Handles(JsonConfig meta) => meta.GetString("model", null) is "PixArtTransformer2DModel" or "Transformer2DModel";

    public IReadOnlyDictionary<string, Tensor> Run(FixtureCase fixture, IOps ops)
    {
        using var model = PixArtTransformer.Load(fixture.Dir, ops);
        var uploaded = new List<Tensor>();
        Tensor Up(string name)
        {
            var t = fixture.UploadInput(ops, name);
            uploaded.Add(t);
            return t;
        }
        try
        {
            var inputs = new DitInputs
            {
                HiddenStates = Up("hidden_states"),
                EncoderHiddenStates = Up("encoder_hidden_states"),
                EncoderAttentionMask = fixture.HasInput("encoder_attention_mask") ? Up("encoder_attention_mask") : null,
                Timestep = fixture.InputFloats("timestep"),
                Resolution = fixture.HasInput("resolution") ? Up("resolution") : null,
                AspectRatio = fixture.HasInput("aspect_ratio") ? Up("aspect_ratio") : null,
            };
            return new Dictionary<string, Tensor> { ["sample"] = model.Forward(ops, inputs) };
        }
        finally
        {
            foreach (var t in uploaded) t.Dispose();
        }
    }
}
