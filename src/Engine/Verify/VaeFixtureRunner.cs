using XDit.Kernels;
using XDit.Models.Vae;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>AutoencoderKL decode cases: in.z (already scaled/shifted, as vae.decode receives it) → out.sample.</summary>
public sealed class VaeFixtureRunner : IFixtureRunner
{
    public bool Handles(JsonConfig meta)
        => meta.GetString("model", null) == "AutoencoderKL" && meta.GetString("op", "decode") == "decode";

    public IReadOnlyDictionary<string, Tensor> Run(FixtureCase fixture, IOps ops)
    {
        using var vae = AutoencoderKL.Load(fixture.Dir, ops);
        using var z = fixture.UploadInput(ops, "z");
        return new Dictionary<string, Tensor> { ["sample"] = vae.Decode(ops, z) };
    }
}
