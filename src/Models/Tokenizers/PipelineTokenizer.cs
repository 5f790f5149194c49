namespace XDit.Models.Tokenizers;

/// <summary>
/// A tokenizer built from the parts a tokenizer.json describes, in the order of tokenizers' encode: the added tokens
/// written with normalized=false are cut out of the raw text; each piece between them is normalised (a piece that
/// normalises to nothing is dropped: a blank prompt gives no "▁"), and the added tokens with normalized=true are cut
/// out of that; the rest goes through the pre-tokenizer (told whether the piece begins the input) and the model;
/// then the post-processor's template (T5: content then &lt;/s&gt;). Truncation keeps the first maxLength − (template tokens) content tokens, as
/// transformers' tokenizers do with truncation=True, padding="max_length".
/// </summary>
public sealed class PipelineTokenizer : IInspectableTokenizer
{
    readonly ITextNormalizer? _normalizer;
    readonly IPreTokenizer? _preTokenizer;
    readonly ITokenModel _model;
    readonly AddedTokenSplitter _rawAdded, _normalizedAdded;
    readonly long[] _prefix, _suffix;

    public PipelineTokenizer(ITextNormalizer? normalizer, IPreTokenizer? preTokenizer, ITokenModel model,
        IEnumerable<(string Content, long Id)> addedTokens, long[] prefix, long[] suffix, long padId, int? modelMaxLength,
        IEnumerable<(string Content, long Id)>? normalizedAddedTokens = null, Func<long, string?>? idToToken = null,
        bool suffixOmittedAfterItself = false)
    {
        if (suffixOmittedAfterItself && suffix.Length != 1)
            throw new ArgumentException($"omitting the suffix after itself needs a suffix of one token, not {suffix.Length}", nameof(suffixOmittedAfterItself));
        _suffixOmittedAfterItself = suffixOmittedAfterItself;
        _normalizer = normalizer;
        _preTokenizer = preTokenizer;
        _model = model;
        var raw = addedTokens.ToList();
        var normalized = (normalizedAddedTokens ?? []).ToList();
        _rawAdded = new AddedTokenSplitter(raw);
        _normalizedAdded = new AddedTokenSplitter(normalized);
        _added = raw.Concat(normalized).GroupBy(t => t.Id).ToDictionary(g => g.Key, g => g.First().Content);
        _idToToken = idToToken;
        _prefix = prefix;
        _suffix = suffix;
        PadId = padId;
        ModelMaxLength = modelMaxLength;
    }

    readonly Dictionary<long, string> _added;
    readonly Func<long, string?>? _idToToken;
    readonly bool _suffixOmittedAfterItself;

    /// <summary>The suffix of content whose first <paramref name="kept"/> ids are kept: none when the slow T5Tokenizer's
    /// rule applies and the kept content already ends with the one suffix token.</summary>
    ReadOnlySpan<long> SuffixFor(List<long> content, int kept)
        => _suffixOmittedAfterItself && kept > 0 && content[kept - 1] == _suffix[0] ? [] : _suffix;

    public int? ModelMaxLength { get; }

    /// <summary>The token string of an id (an added token's content or the model's piece), or null when unknown.</summary>
    public string? IdToToken(long id) => _added.TryGetValue(id, out var t) ? t : _idToToken?.Invoke(id);

    public string? TokenOf(long id) => IdToToken(id);

    public IReadOnlyList<long> EncodeUntruncated(string text)
    {
        var content = TokenizeContent(text);
        return [.. _prefix, .. content, .. SuffixFor(content, content.Count)];
    }

    /// <summary>The model that maps words to ids (WordPiece, Unigram, BPE, WordLevel).</summary>
    public ITokenModel Model => _model;

    /// <summary>The template's ids before and after the content.</summary>
    public IReadOnlyList<long> Prefix => _prefix;
    public IReadOnlyList<long> Suffix => _suffix;
    public long PadId { get; }
    /// <summary>Tokens the template adds around the content (T5: 1, the &lt;/s&gt;).</summary>
    public int SpecialCount => _prefix.Length + _suffix.Length;

    /// <summary>Content ids of one text, before truncation and without the template's special tokens.</summary>
    public List<long> TokenizeContent(string text) => TokenizeContent(text, null);

    /// <summary>The words of a closed WordLevel vocabulary (special tokens left out), in id order; null for subword
    /// models, whose vocabulary spells any text.</summary>
    public IReadOnlyList<string>? Words => _model is WordLevelModel wl
        ? wl.Vocabulary.Where(p => !_added.ContainsKey(p.Value)).OrderBy(p => p.Value).Select(p => p.Key).ToList()
        : null;

    /// <summary>The words of <paramref name="text"/> (after normalisation) that a WordLevel vocabulary lacks, each read as
    /// its unknown token; always empty for subword models.</summary>
    public IReadOnlyList<string> UnknownWords(string text)
    {
        var unknown = new List<string>();
        if (_model is WordLevelModel) TokenizeContent(text, unknown);
        return unknown.Distinct().ToList();
    }

    List<long> TokenizeContent(string text, List<string>? unknown)
    {
        var ids = new List<long>();
        foreach (var (segment, offset, rawId) in _rawAdded.Split(text))
        {
            if (rawId is { } r) { ids.Add(r); continue; }
            var normalized = _normalizer?.Normalize(segment) ?? segment;
            foreach (var (piece, inner, id) in _normalizedAdded.Split(normalized))
            {
                if (id is { } n) { ids.Add(n); continue; }
                // tokenizers' "offset in the original text": a piece begins the input when its raw segment does
                // and nothing of the normalised segment comes before it.
                var words = _preTokenizer?.Split(piece, offset == 0 && inner == 0) ?? [piece];
                foreach (var w in words)
                {
                    if (w.Length == 0) continue;
                    _model.Tokenize(w, ids);
                    if (unknown is not null && _model.TokenToId(w) is null) unknown.Add(w);
                }
            }
        }
        return ids;
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
            int kept = Math.Min(budget, content.Count);
            for (int i = 0; i < kept; i++) row[n++] = content[i];
            foreach (var id in SuffixFor(content, kept)) row[n++] = id;
            mask.AsSpan(b * maxLength, n).Fill(1);
            row[n..].Fill(PadId);
        }
        return new TokenizedText(ids, mask, texts.Count, maxLength, truncated);
    }
}
