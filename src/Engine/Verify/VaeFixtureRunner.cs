using XDit.Kernels;
using XDit.Models.Vae;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>AutoencoderKL cases. Meta op "decode" (the default): in.z (already scaled/shifted, as vae.decode receives
/// it) → out.sample. Op "encode": in.sample, an image in [−1, 1] → out.mean and out.logvar of the latent distribution
/// (vae.encode(x).latent_dist); only the encoder's weights are loaded, so such a case may ship without the decoder's.</summary>
public sealed class VaeFixtureRunner : IFixtureRunner
{
    public bool Handles(JsonConfig meta)
        => meta.GetString("model", null) == "AutoencoderKL" && meta.GetString("op", "decode") is "decode" or "encode";

    public IReadOnlyDictionary<string, Tensor> Run(FixtureCase fixture, IOps ops)
    {
        if (fixture.Meta.GetString("op", "decode") == "encode")
        {
            using var encoder = VaeEncoder.Load(fixture.Dir, ops);
            using var image = fixture.UploadInput(ops, "sample");
            var dist = encoder.Encode(ops, image);
            // the tensors go to the caller, who disposes them; the distribution holds nothing else
            return new Dictionary<string, Tensor> { ["mean"] = dist.Mean, ["logvar"] = dist.LogVar };
        }
        using var vae = AutoencoderKL.Load(fixture.Dir, ops);
        using var z = fixture.UploadInput(ops, "z");
        return new Dictionary<string, Tensor> { ["sample"] = vae.Decode(ops, z) };
    }
}
