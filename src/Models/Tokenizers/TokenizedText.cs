namespace XDit.Models.Tokenizers;

/// <summary>
/// A batch of tokenized texts, each padded to <see cref="Length"/>: ids and 0/1 attention mask, both [Batch, Length]
/// row-major. <see cref="Truncated"/> says which texts lost tokens to the length limit (pipelines warn about it).
/// </summary>
public sealed record TokenizedText(long[] Ids, long[] Mask, int Batch, int Length, bool[] Truncated)
{
    public bool AnyTruncated => Array.IndexOf(Truncated, true) >= 0;

    /// <summary>The ids of row <paramref name="b"/>.</summary>
    public ReadOnlySpan<long> Row(int b) => Ids.AsSpan(b * Length, Length);

    /// <summary>Real (unpadded) tokens of row <paramref name="b"/>.</summary>
    public int ValidCount(int b) { int n = 0; foreach (var m in Mask.AsSpan(b * Length, Length)) n += m != 0 ? 1 : 0; return n; }

    /// <summary>The batch cut to the columns up to the last real token of any row (right padding: what padding to the
    /// longest row gives).</summary>
    public TokenizedText TrimmedToLongest()
    {
        int longest = 0;
        for (int b = 0; b < Batch; b++)
            for (int j = Length - 1; j >= longest; j--)
                if (Mask[b * Length + j] != 0) { longest = j + 1; break; }
        if (longest == Length) return this;
        var ids = new long[Batch * longest];
        var mask = new long[Batch * longest];
        for (int b = 0; b < Batch; b++)
        {
            Ids.AsSpan(b * Length, longest).CopyTo(ids.AsSpan(b * longest, longest));
            Mask.AsSpan(b * Length, longest).CopyTo(mask.AsSpan(b * longest, longest));
        }
        return new TokenizedText(ids, mask, Batch, longest, Truncated);
    }
}
