using XDit.Kernels;
using XDit.Models.Vae.Dc;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>AutoencoderDC decode cases: in.z (the latent already divided by scaling_factor, as vae.decode receives
/// it) → out.sample.</summary>
public sealed class DcAeFixtureRunner : IFixtureRunner
{
    public bool Handles(JsonConfig meta)
        => meta.GetString("model", null) == AutoencoderDCConfig.ClassName && meta.GetString("op", "decode") == "decode";

    public IReadOnlyDictionary<string, Tensor> Run(FixtureCase fixture, IOps ops)
    {
        using var vae = AutoencoderDC.Load(fixture.Dir, ops);
        using var z = fixture.UploadInput(ops, "z");
        return new Dictionary<string, Tensor> { ["sample"] = vae.Decode(ops, z) };
    }
}
