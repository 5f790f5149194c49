namespace XDit.Models.Tokenizers;

/// <summary>
/// <see cref="ClipTokenizer"/> behind the <see cref="ITextTokenizer"/> contract the pipelines call: each text becomes
/// [BOS, content…, EOS, PAD…] of exactly maxLength ids (content truncated to maxLength − 2, as transformers'
/// CLIPTokenizer with truncation and padding="max_length"), with the mask 1 on BOS…EOS.
/// </summary>
public sealed class ClipTextTokenizer(ClipTokenizer inner) : IInspectableTokenizer
{
    public ClipTokenizer Inner { get; } = inner;

    public int? ModelMaxLength => Inner.ModelMaxLength;

    public TokenizedText Encode(IReadOnlyList<string> texts, int maxLength)
    {
        var (ids, mask) = Inner.Encode(texts, maxLength);
        var truncated = new bool[texts.Count];
        for (int i = 0; i < texts.Count; i++) truncated[i] = Inner.Tokenize(texts[i]).Count > maxLength - 2;
        return new TokenizedText(ids, mask, texts.Count, maxLength, truncated);
    }

    public IReadOnlyList<long> EncodeUntruncated(string text)
    {
        var ids = new List<long> { Inner.BosId };
        foreach (var id in Inner.Tokenize(text)) ids.Add(id);
        ids.Add(Inner.EosId);
        return ids;
    }

    public string? TokenOf(long id) => Inner.IdToToken(id);
}
