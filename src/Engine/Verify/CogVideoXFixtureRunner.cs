using XDit.Kernels;
using XDit.Models;
using XDit.Models.CogVideoX;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>Fixtures of CogVideoXTransformer3DModel: hidden_states [B, F, C, H, W], encoder_hidden_states, timestep
/// (stored F32, int64 in the call), the RoPE tables image_rotary_emb_cos/_sin where the model uses RoPE, and ofs
/// (1.5-I2V) → out.sample [B, F, C, H, W].</summary>
public sealed class CogVideoXFixtureRunner : IFixtureRunner
{
    public bool Handles(JsonConfig meta) => meta.GetString("model", null) == CogVideoXConfig.ClassName;

    public IReadOnlyDictionary<string, Tensor> Run(FixtureCase fixture, IOps ops)
    {
        using var model = CogVideoXTransformer.Load(fixture.Dir, ops);
        using var up = new FixtureUploads(fixture, ops);
        var inputs = new DitInputs
        {
            HiddenStates = up["hidden_states"],
            EncoderHiddenStates = up["encoder_hidden_states"],
            Timestep = fixture.InputFloats("timestep"),
            ImageRotaryCos = up.Optional("image_rotary_emb_cos"),
            ImageRotarySin = up.Optional("image_rotary_emb_sin"),
            Ofs = fixture.HasInput("ofs") ? fixture.InputFloats("ofs") : null,
        };
        return new Dictionary<string, Tensor> { ["sample"] = model.Forward(ops, inputs) };
    }
}
