using XDit.Kernels;
using XDit.Models;
using XDit.Models.Sana;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>Fixtures of SanaTransformer2DModel: one forward from hidden_states, encoder_hidden_states,
/// encoder_attention_mask, timestep → out.sample.</summary>
public sealed class SanaFixtureRunner : IFixtureRunner
{
    public bool Handles(JsonConfig meta) => meta.GetString("model", null) == SanaConfig.ClassName;

    public IReadOnlyDictionary<string, Tensor> Run(FixtureCase fixture, IOps ops)
    {
        using var model = SanaTransformer.Load(fixture.Dir, ops);
        var uploaded = new List<Tensor>();
        Tensor Up(string name)
        {
            var t = fixture.UploadInput(ops, name);
            uploaded.Add(t);
            return t;
        }
        try
        {
            var inputs = new DitInputs
            {
                HiddenStates = Up("hidden_states"),
                EncoderHiddenStates = Up("encoder_hidden_states"),
                EncoderAttentionMask = fixture.HasInput("encoder_attention_mask") ? Up("encoder_attention_mask") : null,
                Timestep = fixture.InputFloats("timestep"),
            };
            return new Dictionary<string, Tensor> { ["sample"] = model.Forward(ops, inputs) };
        }
        finally
        {
            foreach (var t in uploaded) t.Dispose();
        }
    }
}
