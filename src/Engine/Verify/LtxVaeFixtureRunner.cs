using XDit.Kernels;
using XDit.Models.Vae.Ltx;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>AutoencoderKLLTXVideo decode cases: in.z [B, latent_channels, F, h, w] (the latents as vae.decode
/// receives them, already denormalized by the pipeline) and, for a timestep-conditioned decoder, in.temb [B] (the
/// decode timestep, before timestep_scale_multiplier) → out.sample [B, 3, frames, H, W]. Meta use_tiling and
/// use_framewise_decoding must be false (neither is implemented).</summary>
public sealed class LtxVaeFixtureRunner : IFixtureRunner
{
    public bool Handles(JsonConfig meta)
        => meta.GetString("model", null) == LtxVaeConfig.ClassName && meta.GetString("op", "decode") == "decode";

    public IReadOnlyDictionary<string, Tensor> Run(FixtureCase fixture, IOps ops)
    {
        foreach (var key in new[] { "use_tiling", "use_framewise_decoding" })
            if (fixture.Meta.GetBool(key, false))
                throw new NotSupportedException($"{fixture.Dir}/meta.json: {key} true is not supported (only whole decoding is implemented), expected false");
        using var vae = AutoencoderKLLTXVideo.Load(fixture.Dir, ops);
        using var z = fixture.UploadInput(ops, "z");
        float[] temb = [];
        if (fixture.HasInput("temb"))
            using (var t = fixture.Input("temb")) temb = t.ToFloatArray();
        return new Dictionary<string, Tensor> { ["sample"] = vae.Decode(ops, z, temb) };
    }
}
