using XDit.Kernels;
using XDit.Models;
using XDit.Models.Ltx;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>Fixtures of LTXVideoTransformer3DModel: hidden_states packed [B, F·H·W, C], encoder_hidden_states,
/// encoder_attention_mask, timestep one per row, num_frames, height and width (one value each), rope_interpolation_scale
/// [3] → out.sample [B, F·H·W, C].</summary>
public sealed class LtxFixtureRunner : IFixtureRunner
{
    public bool Handles(JsonConfig meta) => meta.GetString("model", null) == LtxConfig.ClassName;

    public IReadOnlyDictionary<string, Tensor> Run(FixtureCase fixture, IOps ops)
    {
        using var model = LtxTransformer.Load(fixture.Dir, ops);
        using var up = new FixtureUploads(fixture, ops);
        var inputs = up.TextConditioned() with
        {
            ImgShape = ImgShape(fixture),
            RopeInterpolationScale = RopeInterpolationScale(fixture),
        };
        return new Dictionary<string, Tensor> { ["sample"] = model.Forward(ops, inputs) };
    }

    /// <summary>(in.num_frames, in.height, in.width): the latent grid of the packed tokens.</summary>
    public static (int Frames, int Height, int Width) ImgShape(FixtureCase fixture) =>
        (Scalar(fixture, "num_frames"), Scalar(fixture, "height"), Scalar(fixture, "width"));

    /// <summary>The one integer of in.NAME (diffusers takes num_frames, height and width as ints).</summary>
    static int Scalar(FixtureCase fixture, string name)
    {
        var v = fixture.InputFloats(name);
        if (v.Length != 1 || v[0] != MathF.Round(v[0]) || v[0] < 1)
            throw new FormatException($"{fixture.Dir}: in.{name} must hold one positive integer, got [{string.Join(", ", v)}]");
        return (int)v[0];
    }

    /// <summary>in.rope_interpolation_scale [3]: (t, h, w).</summary>
    public static (float T, float H, float W) RopeInterpolationScale(FixtureCase fixture)
    {
        var s = fixture.InputFloats("rope_interpolation_scale");
        if (s.Length != 3)
            throw new FormatException($"{fixture.Dir}: in.rope_interpolation_scale must be [3] (t, h, w), got {s.Length} values");
        return (s[0], s[1], s[2]);
    }
}
