using System.Text;
using System.Text.Json;

namespace XDit.Models.Tokenizers;

/// <summary>
/// Byte-pair encoding of SentencePiece-style vocabularies (Gemma's, as tokenizer.json's "BPE" model with byte_fallback
/// or as a SentencePiece model_type 2 tokenizer.model): a word starts as its characters (and, for a SentencePiece
/// model, its user-defined pieces, matched longest first); the adjacent pair of best priority is merged, the leftmost
/// among equals, until no pair has one; each resulting symbol is its vocabulary id, or with byte_fallback the ids of
/// its UTF-8 bytes ("&lt;0x41&gt;"), else the unknown id (consecutive unknowns fused when fuse_unk). The priority of a
/// pair is its merges rank (tokenizer.json) or minus the score of the piece it spells (SentencePiece, whose BPE
/// merges any pair that spells a piece). CLIP's BPE, with its "&lt;/w&gt;" word ends, is <see cref="ClipTokenizer"/>.
/// </summary>
public sealed class BpeModel : ITokenModel
{
    readonly Dictionary<string, long> _vocab;
    readonly Dictionary<long, string> _byId = new();
    readonly Func<string, string, double?> _priority;
    readonly long? _unkId;
    readonly bool _byteFallback, _fuseUnk;
    readonly long[]? _byteIds;
    readonly string[] _userDefined;   // longest first
    readonly string _source;

    public BpeModel(IReadOnlyDictionary<string, long> vocab, Func<string, string, double?> priority, long? unkId, bool byteFallback, bool fuseUnk,
        IEnumerable<string>? userDefined = null, string source = "<bpe>")
    {
        _vocab = new Dictionary<string, long>(vocab, StringComparer.Ordinal);
        foreach (var (t, id) in vocab) _byId.TryAdd(id, t);
        _priority = priority;
        _source = source;
        _unkId = unkId;
        _byteFallback = byteFallback;
        _fuseUnk = fuseUnk;
        _userDefined = (userDefined ?? []).Where(u => u.Length > 0).Distinct().OrderByDescending(u => u.Length).ToArray();
        if (byteFallback)
        {
            _byteIds = new long[256];
            for (int b = 0; b < 256; b++)
                _byteIds[b] = _vocab.TryGetValue($"<0x{b:X2}>", out var id) ? id
                    : throw new FormatException($"{source}: byte_fallback is set but the byte piece <0x{b:X2}> is not in the vocabulary");
        }
    }

    /// <summary>tokenizer.json's "BPE" model without CLIP's word-end suffix (Gemma's: byte_fallback, fuse_unk, no
    /// pre-tokenizer): merges written "a b" or ["a", "b"], their order the rank.</summary>
    public static BpeModel FromJson(JsonElement m, string path)
    {
        foreach (var key in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
            if (m.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String && v.GetString()!.Length > 0)
                throw new NotSupportedException($"{path}: a BPE model with {key} '{v.GetString()}' is not supported (only CLIP's '</w>' and SentencePiece-style BPE without one)");
        if (m.TryGetProperty("dropout", out var d) && d.ValueKind == JsonValueKind.Number && d.GetDouble() > 0)
            throw new NotSupportedException($"{path}: BPE dropout {d.GetDouble()} is not supported (tokenization would be random)");
        if (m.TryGetProperty("ignore_merges", out var im) && im.ValueKind == JsonValueKind.True)
            throw new NotSupportedException($"{path}: BPE ignore_merges is not supported");
        if (!m.TryGetProperty("vocab", out var vocabJson) || vocabJson.ValueKind != JsonValueKind.Object)
            throw new FormatException($"{path}: BPE model without a 'vocab' object");
        var vocab = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var p in vocabJson.EnumerateObject()) vocab[p.Name] = p.Value.GetInt64();
        var ranks = new Dictionary<(string, string), int>();
        if (!m.TryGetProperty("merges", out var merges) || merges.ValueKind != JsonValueKind.Array)
            throw new FormatException($"{path}: BPE model without a 'merges' array");
        int rank = 0;
        foreach (var e in merges.EnumerateArray())
        {
            (string, string) pair;
            if (e.ValueKind == JsonValueKind.String)
            {
                // "a b": SentencePiece vocabularies have no space inside a piece (it is "▁"), so one space separates.
                var s = e.GetString()!;
                int sp = s.IndexOf(' ');
                if (sp <= 0 || sp == s.Length - 1 || s.IndexOf(' ', sp + 1) >= 0) throw new FormatException($"{path}: merge \"{s}\" is not a pair of symbols");
                pair = (s[..sp], s[(sp + 1)..]);
            }
            else if (e.ValueKind == JsonValueKind.Array && e.GetArrayLength() == 2) pair = (e[0].GetString()!, e[1].GetString()!);
            else throw new FormatException($"{path}: merge {e.GetRawText()} is not a pair of symbols");
            // As the Rust library refuses such a file: a merge must join two pieces into a third.
            foreach (var piece in new[] { pair.Item1, pair.Item2, pair.Item1 + pair.Item2 })
                if (!vocab.ContainsKey(piece)) throw new FormatException($"{path}: merge {e.GetRawText()} names '{piece}', which is not in the vocabulary");
            ranks.TryAdd(pair, rank++);
        }
        long? unk = null;
        if (m.TryGetProperty("unk_token", out var u) && u.ValueKind == JsonValueKind.String)
            unk = vocab.TryGetValue(u.GetString()!, out var uid) ? uid : throw new FormatException($"{path}: BPE unk_token '{u.GetString()}' is not in the vocabulary");
        bool byteFallback = m.TryGetProperty("byte_fallback", out var bf) && bf.ValueKind == JsonValueKind.True;
        bool fuseUnk = m.TryGetProperty("fuse_unk", out var fu) && fu.ValueKind == JsonValueKind.True;
        return new BpeModel(vocab, (a, b) => ranks.TryGetValue((a, b), out var r) ? r : null, unk, byteFallback, fuseUnk, source: path);
    }

    public long? TokenToId(string token) => _vocab.TryGetValue(token, out var id) ? id : null;
    public string? IdToToken(long id) => _byId.GetValueOrDefault(id);

    public void Tokenize(string word, List<long> ids)
    {
        if (word.Length == 0) return;
        var symbols = InitialSymbols(word);
        int n = symbols.Count;
        var next = new int[n];
        var prev = new int[n];
        var alive = new bool[n];
        for (int i = 0; i < n; i++) { next[i] = i + 1 < n ? i + 1 : -1; prev[i] = i - 1; alive[i] = true; }

        // Candidates ordered by (priority, position of the left symbol); a popped one still holds when both symbols
        // are alive, adjacent and unchanged.
        var queue = new PriorityQueue<(int Left, int Right, string L, string R), (double, int)>();
        void Offer(int left)
        {
            int right = next[left];
            if (right < 0) return;
            if (_priority(symbols[left], symbols[right]) is { } p) queue.Enqueue((left, right, symbols[left], symbols[right]), (p, left));
        }
        for (int i = 0; i + 1 < n; i++) Offer(i);
        while (queue.TryDequeue(out var c, out _))
        {
            if (!alive[c.Left] || !alive[c.Right] || next[c.Left] != c.Right || !ReferenceEquals(symbols[c.Left], c.L) || !ReferenceEquals(symbols[c.Right], c.R))
                continue;
            symbols[c.Left] = c.L + c.R;
            alive[c.Right] = false;
            next[c.Left] = next[c.Right];
            if (next[c.Right] >= 0) prev[next[c.Right]] = c.Left;
            if (prev[c.Left] >= 0) Offer(prev[c.Left]);
            Offer(c.Left);
        }

        bool lastUnk = false;
        for (int i = 0; i >= 0 && i < n; i = next[i])
        {
            if (_vocab.TryGetValue(symbols[i], out var id)) { ids.Add(id); lastUnk = false; continue; }
            if (_byteIds is not null)
            {
                foreach (var b in Encoding.UTF8.GetBytes(symbols[i])) ids.Add(_byteIds[b]);
                lastUnk = false;
                continue;
            }
            if (_unkId is not { } unk) throw new FormatException($"{_source}: '{symbols[i]}' is not in the BPE vocabulary, which names no unk_token and has no byte_fallback");
            if (!(_fuseUnk && lastUnk)) ids.Add(unk);
            lastUnk = true;
        }
    }

    /// <summary>The word's characters (a surrogate pair is one), with user-defined pieces kept whole.</summary>
    List<string> InitialSymbols(string word)
    {
        var symbols = new List<string>(word.Length);
        for (int i = 0; i < word.Length;)
        {
            string? user = null;
            foreach (var u in _userDefined)
                if (string.CompareOrdinal(word, i, u, 0, u.Length) == 0 && i + u.Length <= word.Length) { user = u; break; }
            int len = user?.Length ?? (char.IsHighSurrogate(word[i]) && i + 1 < word.Length && char.IsLowSurrogate(word[i + 1]) ? 2 : 1);
            symbols.Add(word.Substring(i, len));
            i += len;
        }
        return symbols;
    }
}
