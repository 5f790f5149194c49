using XDit.Kernels;
using XDit.Models.Vae.HunyuanVideo;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>AutoencoderKLHunyuanVideo decode cases: in.z [B, C, F, h, w] (already divided by scaling_factor, as
/// vae.decode receives it) → out.sample [B, 3, 4(F − 1) + 1, 8h, 8w]. Meta use_tiling and use_framewise_decoding
/// (absent: false) must be false: a case made with either on is refused.</summary>
public sealed class HunyuanVideoVaeFixtureRunner : IFixtureRunner
{
    public bool Handles(JsonConfig meta)
        => meta.GetString("model", null) == HunyuanVideoVaeConfig.ClassName && meta.GetString("op", "decode") == "decode";

    public IReadOnlyDictionary<string, Tensor> Run(FixtureCase fixture, IOps ops)
    {
        AutoencoderKLHunyuanVideo.RefuseTiling(fixture.Meta.GetBool("use_tiling", false),
            fixture.Meta.GetBool("use_framewise_decoding", false), $"{fixture.Dir}/meta.json");
        using var vae = AutoencoderKLHunyuanVideo.Load(fixture.Dir, ops);
        using var z = fixture.UploadInput(ops, "z");
        return new Dictionary<string, Tensor> { ["sample"] = vae.Decode(ops, z) };
    }
}
