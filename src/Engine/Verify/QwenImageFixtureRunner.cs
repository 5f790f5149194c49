using XDit.Kernels;
using XDit.Models;
using XDit.Models.QwenImage;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>Fixtures of QwenImageTransformer2DModel: packed hidden_states [B, F·h·w, C], encoder_hidden_states,
/// encoder_hidden_states_mask (1 keep / 0 pad), timestep (t/1000), img_shapes [B, 3] = (F, h, w) per row (one grid
/// for the batch, as diffusers' RoPE takes the first) → packed sample.</summary>
public sealed class QwenImageFixtureRunner : IFixtureRunner
{
    public bool Handles(JsonConfig meta) => meta.GetString("model", null) == QwenImageConfig.ClassName;

    public IReadOnlyDictionary<string, Tensor> Run(FixtureCase fixture, IOps ops)
    {
        using var model = QwenImageTransformer.Load(fixture.Dir, ops);
        using var up = new FixtureUploads(fixture, ops);
        var inputs = new DitInputs
        {
            HiddenStates = up["hidden_states"],
            EncoderHiddenStates = up["encoder_hidden_states"],
            EncoderAttentionMask = up.Optional("encoder_hidden_states_mask"),
            Timestep = fixture.InputFloats("timestep"),
            ImgShape = ImgShape(fixture),
        };
        return new Dictionary<string, Tensor> { ["sample"] = model.Forward(ops, inputs) };
    }

    /// <summary>The one (F, h, w) of in.img_shapes [B, 3]; rows that differ are refused (the model has one grid).</summary>
    public static (int Frames, int Height, int Width) ImgShape(FixtureCase fixture)
    {
        var s = fixture.InputFloats("img_shapes");
        if (s.Length == 0 || s.Length % 3 != 0)
            throw new FormatException($"{fixture.Dir}: in.img_shapes must be [B, 3] (frames, height, width), got {s.Length} values");
        for (int i = 3; i < s.Length; i++)
            if (s[i] != s[i % 3])
                throw new NotSupportedException($"{fixture.Dir}: in.img_shapes rows differ ({s[0]}, {s[1]}, {s[2]}) vs row {i / 3}; one grid for the batch is supported");
        return ((int)s[0], (int)s[1], (int)s[2]);
    }
}
