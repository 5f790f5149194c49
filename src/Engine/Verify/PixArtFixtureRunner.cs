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
        using var up = new FixtureUploads(fixture, ops);
        var inputs = up.TextConditioned() with
        {
            Resolution = up.Optional("resolution"),
            AspectRatio = up.Optional("aspect_ratio"),
        };
        return new Dictionary<string, Tensor> { ["sample"] = model.Forward(ops, inputs) };
    }
}
