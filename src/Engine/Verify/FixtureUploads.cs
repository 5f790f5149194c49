using XDit.Kernels;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>A fixture's inputs moved to the backend as a runner asks for them, all freed together when the run
/// ends (a model's inputs are views the runner keeps until its forward returns).</summary>
public sealed class FixtureUploads(FixtureCase fixture, IOps ops) : IDisposable
{
    readonly List<Tensor> _uploaded = new();

    /// <summary>Input `in.NAME` on the backend.</summary>
    public Tensor this[string name]
    {
        get
        {
            var t = fixture.UploadInput(ops, name);
            _uploaded.Add(t);
            return t;
        }
    }

    /// <summary>Input `in.NAME` on the backend, or null when the fixture has none.</summary>
    public Tensor? Optional(string name) => fixture.HasInput(name) ? this[name] : null;

    /// <summary>The inputs every text-conditioned transformer fixture has: hidden_states, encoder_hidden_states, the
    /// optional encoder_attention_mask (1 kept, 0 padded) and timestep; a runner adds its model's own with `with`.</summary>
    public DitInputs TextConditioned() => new()
    {
        HiddenStates = this["hidden_states"],
        EncoderHiddenStates = this["encoder_hidden_states"],
        EncoderAttentionMask = Optional("encoder_attention_mask"),
        Timestep = fixture.InputFloats("timestep"),
    };

    public void Dispose()
    {
        foreach (var t in _uploaded) t.Dispose();
        _uploaded.Clear();
    }
}
