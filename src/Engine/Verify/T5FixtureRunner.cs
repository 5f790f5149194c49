using XDit.Kernels;
using XDit.Models.T5;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>Fixtures of T5EncoderModel and MT5EncoderModel (the same encoder; mT5 differs only in its vocabulary and
/// config values): input_ids and attention_mask (I64) → out.last_hidden_state.</summary>
public sealed class T5FixtureRunner : IFixtureRunner
{
    public bool Handles(JsonConfig meta) => meta.GetString("model", null) is "T5EncoderModel" or "MT5EncoderModel";

    public IReadOnlyDictionary<string, Tensor> Run(FixtureCase fixture, IOps ops)
    {
        using var encoder = T5Encoder.Load(fixture.Dir, ops);
        using var ids = fixture.RawInput("input_ids");
        if (ids.Rank != 2 || ids.DType != DType.I64)
            throw new FormatException($"{fixture.Dir}: in.input_ids must be I64 [B, T], got {ids.DType} {Shape.Format(ids.ShapeSpan)}");
        long[]? mask = null;
        if (fixture.HasInput("attention_mask"))
        {
            using var m = fixture.RawInput("attention_mask");
            if (m.DType != DType.I64 || !Shape.Equal(m.ShapeSpan, ids.ShapeSpan))
                throw new FormatException($"{fixture.Dir}: in.attention_mask must be I64 {Shape.Format(ids.ShapeSpan)}, got {m.DType} {Shape.Format(m.ShapeSpan)}");
            mask = m.Span<long>().ToArray();
        }
        var output = encoder.Encode(ops, ids.Span<long>().ToArray(), mask, ids.Dim(0), ids.Dim(1));
        return new Dictionary<string, Tensor> { ["last_hidden_state"] = output };
    }
}
