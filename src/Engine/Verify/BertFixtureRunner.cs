using XDit.Kernels;
using XDit.Models.Bert;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>Fixtures of BertModel: input_ids and attention_mask (I64) → out.last_hidden_state.</summary>
public sealed class BertFixtureRunner : IFixtureRunner
{
    public bool Handles(JsonConfig meta) => meta.GetString("model", null) == BertConfig.ClassName;

    public IReadOnlyDictionary<string, Tensor> Run(FixtureCase fixture, IOps ops)
    {
        using var model = BertModel.Load(fixture.Dir, ops);
        var (ids, mask, batch, seqLen) = FixtureTokens.Read(fixture);
        var output = model.Encode(ops, ids, mask, batch, seqLen);
        return new Dictionary<string, Tensor> { ["last_hidden_state"] = output };
    }
}
