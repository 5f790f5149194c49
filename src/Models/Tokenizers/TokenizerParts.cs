namespace XDit.Models.Tokenizers;

/// <summary>A tokenizer.json "normalizer": rewrites the text before it is split.</summary>
public interface ITextNormalizer
{
    string Normalize(string text);
}

/// <summary>A tokenizer.json "pre_tokenizer": splits normalized text into the words the model tokenizes.</summary>
public interface IPreTokenizer
{
    /// <summary>The words of one piece of text; <paramref name="atStart"/> says whether the piece begins the whole
    /// input (Metaspace's prepend_scheme "first" adds its "▁" only there, not after an added token).</summary>
    IEnumerable<string> Split(string text, bool atStart);
}

/// <summary>A tokenizer.json "model": maps one pre-tokenized word to ids.</summary>
public interface ITokenModel
{
    void Tokenize(string word, List<long> ids);
    /// <summary>Id of a token string, or null when the vocabulary lacks it.</summary>
    long? TokenToId(string token);
    /// <summary>Token string of an id, or null when the vocabulary has no such id.</summary>
    string? IdToToken(long id);
}

/// <summary>"Lowercase": each character lower-cased as Rust's char::to_lowercase does (see <see cref="Unicode.UnicodeCasing"/>).</summary>
public sealed class LowercaseNormalizer : ITextNormalizer
{
    public string Normalize(string text) => Unicode.UnicodeCasing.ToLower(text);
}

/// <summary>"NFKC" / "NFC" / "NFD" / "NFKD", from the engine's own tables (string.Normalize needs ICU, which the
/// invariant globalization mode leaves out).</summary>
public sealed class UnicodeNormalizer(System.Text.NormalizationForm form) : ITextNormalizer
{
    public string Normalize(string text) => Unicode.UnicodeNormalization.Normalize(text, form);
}

/// <summary>"Strip": trims whitespace on the left and/or right.</summary>
public sealed class StripNormalizer(bool left, bool right) : ITextNormalizer
{
    public string Normalize(string text) => left && right ? text.Trim() : left ? text.TrimStart() : right ? text.TrimEnd() : text;
}

/// <summary>"Replace": a literal string or a regex pattern replaced by the content.</summary>
public sealed class ReplaceNormalizer(System.Text.RegularExpressions.Regex pattern, string content) : ITextNormalizer
{
    public string Normalize(string text) => pattern.Replace(text, content);
}

/// <summary>"Sequence" of normalizers applied in order.</summary>
public sealed class SequenceNormalizer(IReadOnlyList<ITextNormalizer> parts) : ITextNormalizer
{
    public string Normalize(string text) { foreach (var p in parts) text = p.Normalize(text); return text; }
}

/// <summary>"WhitespaceSplit": splits on runs of Unicode whitespace, dropping them.</summary>
public sealed class WhitespaceSplitPreTokenizer : IPreTokenizer
{
    public IEnumerable<string> Split(string text, bool atStart) => text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
}

/// <summary>"Whitespace": the pieces matching \w+|[^\w\s]+.</summary>
public sealed class WhitespacePreTokenizer : IPreTokenizer
{
    static readonly System.Text.RegularExpressions.Regex Pattern = new(@"\w+|[^\w\s]+", System.Text.RegularExpressions.RegexOptions.Compiled);
    public IEnumerable<string> Split(string text, bool atStart) => Pattern.Matches(text).Select(m => m.Value);
}

/// <summary>How "Split" keeps the matches of its pattern.</summary>
public enum SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous }

/// <summary>"Split": cuts the text at each match of a literal or regex pattern (each occurrence one match), the match
/// removed, a piece of its own (Isolated; Contiguous first joins adjacent matches), or glued to the piece before or
/// after it unless that piece is a match too, as tokenizers' split behaviours do; matched by code point
/// (<see cref="CodePointRegex"/>). Gemma's tokenizer.json splits on " "
/// merged with the previous piece, which after its Replace normaliser never occurs.</summary>
public sealed class SplitPreTokenizer(System.Text.RegularExpressions.Regex pattern, SplitBehavior behavior) : IPreTokenizer
{
    public IEnumerable<string> Split(string text, bool atStart)
    {
        var spans = new List<(int Start, int End, bool Match)>();
        int pos = 0;
        foreach (var (index, length) in CodePointRegex.Matches(pattern, text))
        {
            if (length == 0) continue;
            if (index > pos) spans.Add((pos, index, false));
            if (behavior == SplitBehavior.Contiguous && spans.Count > 0 && spans[^1].Match && spans[^1].End == index)
                spans[^1] = (spans[^1].Start, index + length, true);
            else spans.Add((index, index + length, true));
            pos = index + length;
        }
        if (pos < text.Length) spans.Add((pos, text.Length, false));

        var merged = new List<(int Start, int End)>();
        bool previousMatch = false;
        switch (behavior)
        {
            case SplitBehavior.Removed:
                merged.AddRange(spans.Where(x => !x.Match).Select(x => (x.Start, x.End)));
                break;
            case SplitBehavior.MergedWithPrevious:
                foreach (var (start, end, match) in spans)
                {
                    if (match && !previousMatch && merged.Count > 0) merged[^1] = (merged[^1].Start, end);
                    else merged.Add((start, end));
                    previousMatch = match;
                }
                break;
            case SplitBehavior.MergedWithNext:
                for (int i = spans.Count - 1; i >= 0; i--)
                {
                    var (start, end, match) = spans[i];
                    if (match && !previousMatch && merged.Count > 0) merged[^1] = (start, merged[^1].End);
                    else merged.Add((start, end));
                    previousMatch = match;
                }
                merged.Reverse();
                break;
            default:
                merged.AddRange(spans.Select(x => (x.Start, x.End)));
                break;
        }
        return merged.Select(x => text[x.Start..x.End]).ToList();
    }
}

/// <summary>"Sequence" of pre-tokenizers: each splits every piece the previous one produced.</summary>
public sealed class SequencePreTokenizer(IReadOnlyList<IPreTokenizer> parts) : IPreTokenizer
{
    public IEnumerable<string> Split(string text, bool atStart)
    {
        IEnumerable<string> pieces = [text];
        foreach (var p in parts) pieces = pieces.SelectMany((piece, i) => p.Split(piece, atStart && i == 0)).ToList();
        return pieces;
    }
}

/// <summary>"WordLevel": each word is one vocabulary entry, or the unknown token.</summary>
public sealed class WordLevelModel(IReadOnlyDictionary<string, long> vocab, long unkId) : ITokenModel
{
    readonly Dictionary<long, string> _byId = vocab.GroupBy(p => p.Value).ToDictionary(g => g.Key, g => g.First().Key);
    public string? IdToToken(long id) => _byId.GetValueOrDefault(id);
    public void Tokenize(string word, List<long> ids) => ids.Add(vocab.TryGetValue(word, out var id) ? id : unkId);
    public long? TokenToId(string token) => vocab.TryGetValue(token, out var id) ? id : null;
    public IReadOnlyDictionary<string, long> Vocabulary => vocab;
}
