using XDit.Kernels;
using XDit.Models.Vae.CogVideoX;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>AutoencoderKLCogVideoX decode cases: in.z [B, C, F, h, w] (already divided by scaling_factor, as
/// vae.decode receives it) → out.sample [B, 3, frames, 8h, 8w], tiling off. Meta num_latent_frames_batch_size
/// (diffusers' default 2) is the latent frames decoded per pass.</summary>
public sealed class CogVideoXVaeFixtureRunner : IFixtureRunner
{
    public bool Handles(JsonConfig meta)
        => meta.GetString("model", null) == CogVideoXVaeConfig.ClassName && meta.GetString("op", "decode") == "decode";

    public IReadOnlyDictionary<string, Tensor> Run(FixtureCase fixture, IOps ops)
    {
        if (fixture.Meta.GetBool("use_tiling", false))
            throw new NotSupportedException($"{fixture.Dir}/meta.json: use_tiling true is not supported (tiled decoding is not implemented)");
        int batch = fixture.Meta.GetInt("num_latent_frames_batch_size", 2, 1, 1 << 16);
        using var vae = AutoencoderKLCogVideoX.Load(fixture.Dir, ops, frameBatchSize: batch);
        using var z = fixture.UploadInput(ops, "z");
        return new Dictionary<string, Tensor> { ["sample"] = vae.Decode(ops, z) };
    }
}
