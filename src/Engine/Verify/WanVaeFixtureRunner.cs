using XDit.Kernels;
using XDit.Models.Vae.Wan;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>AutoencoderKLWan decode cases: in.z [B, z_dim, F, h, w] (the raw decode input: the pipeline's
/// latents · latents_std + latents_mean, as vae.decode receives it) → out.sample [B, 3, 1 + 4(F − 1), 8h, 8w],
/// clamped to [−1, 1], tiling off.</summary>
public sealed class WanVaeFixtureRunner : IFixtureRunner
{
    public bool Handles(JsonConfig meta)
        => meta.GetString("model", null) == WanVaeConfig.ClassName && meta.GetString("op", "decode") == "decode";

    public IReadOnlyDictionary<string, Tensor> Run(FixtureCase fixture, IOps ops)
    {
        if (fixture.Meta.GetBool("use_tiling", false))
            throw new NotSupportedException($"{fixture.Dir}/meta.json: use_tiling true is not supported (tiled decoding is not implemented)");
        using var vae = AutoencoderKLWan.Load(fixture.Dir, ops);
        using var z = fixture.UploadInput(ops, "z");
        return new Dictionary<string, Tensor> { ["sample"] = vae.Decode(ops, z) };
    }
}
