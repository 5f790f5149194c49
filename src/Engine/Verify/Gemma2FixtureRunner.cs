using XDit.Kernels;
using XDit.Models.Gemma2;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>Fixtures of Gemma2Model: input_ids and attention_mask (I64, right padding) → out.last_hidden_state.</summary>
public sealed class Gemma2FixtureRunner : IFixtureRunner
{
    public bool Handles(JsonConfig meta) => meta.GetString("model", null) == Gemma2Config.ClassName;

    public IReadOnlyDictionary<string, Tensor> Run(FixtureCase fixture, IOps ops)
    {
        using var model = Gemma2Model.Load(fixture.Dir, ops);
        var (ids, mask, batch, seqLen) = FixtureTokens.Read(fixture);
        var output = model.Encode(ops, ids, mask, batch, seqLen);
        return new Dictionary<string, Tensor> { ["last_hidden_state"] = output };
    }
}
