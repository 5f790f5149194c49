namespace XDit.Models.Tokenizers;

/// <summary>
/// A tokenizer built from the parts a tokenizer.json describes: added (special) tokens matched verbatim first,
/// then normalizer → pre-tokenizer → model on the text between them, then the post-processor's template (T5:
/// content then &lt;/s&gt;). Truncation keeps the first maxLength − (template tokens) content tokens, as
/// transformers' tokenizers do with truncation=True, padding="max_length".
/// </summary>
public sealed class PipelineTokenizer : ITextTokenizer
{
    readonly ITextNormalizer? _normalizer;
    readonly IPreTokenizer? _preTokenizer;
    readonly ITokenModel _model;
    readonly (string Content, long Id)[] _addedTokens;   // longest first, so overlapping contents pick the longer
    readonly long[] _prefix, _suffix;

    public PipelineTokenizer(ITextNormalizer? normalizer, IPreTokenizer? preTokenizer, ITokenModel model,
        IEnumerable<(string Content, long Id)> addedTokens, long[] prefix, long[] suffix, long padId, int? modelMaxLength)
    {
        _normalizer = normalizer;
        _preTokenizer = preTokenizer;
        _model = model;
        _addedTokens = addedTokens.Where(t => t.Content.Length > 0).OrderByDescending(t => t.Content.Length).ToArray();
        _prefix = prefix;
        _suffix = suffix;
        PadId = padId;
        ModelMaxLength = modelMaxLength;
    }

    public int? ModelMaxLength { get; }
    public long PadId { get; }
    /// <summary>Tokens the template adds around the content (T5: 1, the &lt;/s&gt;).</summary>
    public int SpecialCount => _prefix.Length + _suffix.Length;

    /// <summary>Content ids of one text, before truncation and without the template's special tokens.</summary>
    public List<long> TokenizeContent(string text)
    {
        var ids = new List<long>();
        int start = 0;
        while (start <= text.Length)
        {
            var (pos, token) = NextAddedToken(text, start);
            TokenizeSegment(text[start..pos], ids);
            if (token is null) break;
            ids.Add(token.Value.Id);
            start = pos + token.Value.Content.Length;
        }
        return ids;
    }

    (int Pos, (string Content, long Id)? Token) NextAddedToken(string text, int start)
    {
        int best = text.Length;
        (string, long)? found = null;
        foreach (var t in _addedTokens)
        {
            int i = text.IndexOf(t.Content, start, StringComparison.Ordinal);
            if (i >= 0 && i < best) { best = i; found = t; }
        }
        return (best, found);
    }

    void TokenizeSegment(string segment, List<long> ids)
    {
        if (segment.Length == 0) return;
        var normalized = _normalizer?.Normalize(segment) ?? segment;
        var words = _preTokenizer?.Split(normalized) ?? [normalized];
        foreach (var w in words) if (w.Length > 0) _model.Tokenize(w, ids);
    }

    public TokenizedText Encode(IReadOnlyList<string> texts, int maxLength)
    {
        if (maxLength <= SpecialCount)
            throw new ArgumentOutOfRangeException(nameof(maxLength), $"max length {maxLength} leaves no room for content beside the {SpecialCount} special token(s)");
        int budget = maxLength - SpecialCount;
        var ids = new long[texts.Count * maxLength];
        var mask = new long[texts.Count * maxLength];
        var truncated = new bool[texts.Count];
        for (int b = 0; b < texts.Count; b++)
        {
            var content = TokenizeContent(texts[b] ?? throw new ArgumentNullException(nameof(texts), $"text {b} is null"));
            truncated[b] = content.Count > budget;
            var row = ids.AsSpan(b * maxLength, maxLength);
            int n = 0;
            foreach (var id in _prefix) row[n++] = id;
            for (int i = 0; i < Math.Min(budget, content.Count); i++) row[n++] = content[i];
            foreach (var id in _suffix) row[n++] = id;
            mask.AsSpan(b * maxLength, n).Fill(1);
            row[n..].Fill(PadId);
        }
        return new TokenizedText(ids, mask, texts.Count, maxLength, truncated);
    }
}
