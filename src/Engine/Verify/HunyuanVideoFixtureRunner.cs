using XDit.Kernels;
using XDit.Models;
using XDit.Models.HunyuanVideo;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>Fixtures of HunyuanVideoTransformer3DModel: hidden_states [B, C, F, H, W], timestep, encoder_hidden_states,
/// encoder_attention_mask (1 kept, 0 padded), pooled_projections, guidance (guidance_scale·1000) → out.sample
/// [B, C, F, H, W].</summary>
public sealed class HunyuanVideoFixtureRunner : IFixtureRunner
{
    public bool Handles(JsonConfig meta) => meta.GetString("model", null) == HunyuanVideoConfig.ClassName;

    public IReadOnlyDictionary<string, Tensor> Run(FixtureCase fixture, IOps ops)
    {
        using var model = HunyuanVideoTransformer.Load(fixture.Dir, ops);
        using var up = new FixtureUploads(fixture, ops);
        var inputs = up.TextConditioned() with
        {
            PooledProjections = up["pooled_projections"],
            Guidance = fixture.HasInput("guidance") ? fixture.InputFloats("guidance") : null,
        };
        return new Dictionary<string, Tensor> { ["sample"] = model.Forward(ops, inputs) };
    }
}
