using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>The token inputs of a text-encoder fixture: in.input_ids (I64 [B, T]) and an optional in.attention_mask
/// (I64, the same shape), checked and returned row-major.</summary>
public static class FixtureTokens
{
    public static (long[] Ids, long[]? Mask, int Batch, int SeqLen) Read(FixtureCase fixture)
    {
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
        return (ids.Span<long>().ToArray(), mask, ids.Dim(0), ids.Dim(1));
    }
}
