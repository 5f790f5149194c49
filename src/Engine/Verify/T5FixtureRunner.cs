using XDit.Kernels;
using XDit.Models.T5;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>Fixtures of T5EncoderModel, MT5EncoderModel and UMT5EncoderModel (one encoder: mT5 differs only in its
/// vocabulary and config values, UMT5 in a position table per block, which the folder's config.json selects):
/// input_ids and attention_mask (I64) → out.last_hidden_state.</summary>
public sealed class T5FixtureRunner : IFixtureRunner
{
    public bool Handles(JsonConfig meta) => meta.GetString("model", null) is "T5EncoderModel" or "MT5EncoderModel" or "UMT5EncoderModel";

    public IReadOnlyDictionary<string, Tensor> Run(FixtureCase fixture, IOps ops)
    {
        using var encoder = T5Encoder.Load(fixture.Dir, ops);
        var (ids, mask, batch, seqLen) = FixtureTokens.Read(fixture);
        var output = encoder.Encode(ops, ids, mask, batch, seqLen);
        return new Dictionary<string, Tensor> { ["last_hidden_state"] = output };
    }
}
