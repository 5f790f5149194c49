using XDit.Kernels;
using XDit.Models.Vae.Wan;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>AutoencoderKLWan cases, tiling off. Meta op "decode" (the default): in.z [B, z_dim, F, h, w] (the raw
/// decode input: the pipeline's latents · latents_std + latents_mean, as vae.decode receives it) → out.sample
/// [B, 3, 1 + 4(F − 1), 8h, 8w], clamped to [−1, 1]. Op "encode": in.sample, a video [B, 3, T, H, W] in [−1, 1] →
/// out.mean and out.logvar of vae.encode(x).latent_dist; only the encoder's weights are loaded. Qwen-Image's
/// AutoencoderKLQwenImage cases run here too (the same model, <see cref="WanVaeConfig.QwenImageClassName"/>): one frame
/// in, one frame out.</summary>
public sealed class WanVaeFixtureRunner : IFixtureRunner
{
    public bool Handles(JsonConfig meta)
        => meta.GetString("model", null) is WanVaeConfig.ClassName or WanVaeConfig.QwenImageClassName
            && meta.GetString("op", "decode") is "decode" or "encode";

    public IReadOnlyDictionary<string, Tensor> Run(FixtureCase fixture, IOps ops)
    {
        if (fixture.Meta.GetBool("use_tiling", false))
            throw new NotSupportedException($"{fixture.Dir}/meta.json: use_tiling true is not supported (tiled decoding is not implemented)");
        if (fixture.Meta.GetString("op", "decode") == "encode")
        {
            using var encoder = WanVaeEncoder.Load(fixture.Dir, ops);
            using var video = fixture.UploadInput(ops, "sample");
            var dist = encoder.Encode(ops, video);
            return new Dictionary<string, Tensor> { ["mean"] = dist.Mean, ["logvar"] = dist.LogVar };
        }
        using var vae = AutoencoderKLWan.Load(fixture.Dir, ops);
        using var z = fixture.UploadInput(ops, "z");
        return new Dictionary<string, Tensor> { ["sample"] = vae.Decode(ops, z) };
    }
}
