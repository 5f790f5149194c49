namespace XDit.Models.Tokenizers;

/// <summary>
/// BERT's WordPiece: a word becomes the longest vocabulary entry that begins it, then the longest "##"-prefixed entry
/// that begins the rest, and so on (greedy, longest match first); a word with a rest no entry begins, or longer than
/// max_input_chars_per_word (100) characters (code points), is the unknown token as a whole. Words in never_split
/// are looked up whole (the unknown token when absent), as BertTokenizer appends them without WordPiece.
/// </summary>
public sealed class WordPieceModel : ITokenModel
{
    readonly int _maxChars;
    readonly Dictionary<string, long> _vocab;
    readonly Dictionary<long, string> _byId;
    readonly long _unkId;
    readonly string _prefix;
    readonly IReadOnlySet<string> _neverSplit;

    public WordPieceModel(IReadOnlyDictionary<string, long> vocab, long unkId, string continuingPrefix = "##", IReadOnlySet<string>? neverSplit = null,
        int maxInputCharsPerWord = 100)
    {
        _maxChars = maxInputCharsPerWord;
        _vocab = new Dictionary<string, long>(vocab, StringComparer.Ordinal);
        _byId = new Dictionary<long, string>();
        foreach (var (token, id) in vocab) _byId[id] = token;
        _unkId = unkId;
        _prefix = continuingPrefix;
        _neverSplit = neverSplit ?? new HashSet<string>();
    }

    /// <summary>tokenizer.json's "WordPiece" model (BertTokenizerFast): vocab, unk_token, continuing_subword_prefix,
    /// max_input_chars_per_word.</summary>
    public static WordPieceModel FromJson(System.Text.Json.JsonElement m, string path)
    {
        if (!m.TryGetProperty("vocab", out var v) || v.ValueKind != System.Text.Json.JsonValueKind.Object)
            throw new FormatException($"{path}: WordPiece model without a 'vocab' object");
        var vocab = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var p in v.EnumerateObject()) vocab[p.Name] = p.Value.GetInt64();
        var unk = m.TryGetProperty("unk_token", out var u) && u.ValueKind == System.Text.Json.JsonValueKind.String ? u.GetString()! : "[UNK]";
        if (!vocab.TryGetValue(unk, out var unkId)) throw new FormatException($"{path}: WordPiece unk_token '{unk}' is not in the vocabulary");
        var prefix = m.TryGetProperty("continuing_subword_prefix", out var cp) && cp.ValueKind == System.Text.Json.JsonValueKind.String ? cp.GetString()! : "##";
        int max = m.TryGetProperty("max_input_chars_per_word", out var mx) && mx.ValueKind == System.Text.Json.JsonValueKind.Number ? mx.GetInt32() : 100;
        return new WordPieceModel(vocab, unkId, prefix, null, max);
    }

    public long? TokenToId(string token) => _vocab.TryGetValue(token, out var id) ? id : null;
    public string? IdToToken(long id) => _byId.GetValueOrDefault(id);

    public void Tokenize(string word, List<long> ids)
    {
        if (_neverSplit.Contains(word)) { ids.Add(TokenToId(word) ?? _unkId); return; }
        // Character (code point) boundaries: a piece never cuts a surrogate pair.
        var bounds = new List<int> { 0 };
        foreach (var r in word.EnumerateRunes()) bounds.Add(bounds[^1] + r.Utf16SequenceLength);
        int chars = bounds.Count - 1;
        if (chars > _maxChars) { ids.Add(_unkId); return; }
        int first = ids.Count;
        for (int start = 0; start < chars;)
        {
            int end = chars;
            long found = -1;
            for (; end > start; end--)
            {
                var piece = word[bounds[start]..bounds[end]];
                if (_vocab.TryGetValue(start > 0 ? _prefix + piece : piece, out var id)) { found = id; break; }
            }
            if (found < 0)
            {
                ids.RemoveRange(first, ids.Count - first);
                ids.Add(_unkId);
                return;
            }
            ids.Add(found);
            start = end;
        }
    }
}
