using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using XDit.Models.Tokenizers.Unicode;

namespace XDit.Models.Tokenizers;

/// <summary>
/// CLIP's byte-level BPE tokenizer as the Hugging Face tokenizer.json of CLIP ViT-L/14 (which SD3 and Flux ship)
/// describes it: the added tokens written with normalized=false (&lt;|endoftext|&gt;) are cut out of the raw text; the
/// rest is NFC-normalised, its whitespace runs become one space and it is lower-cased (character by character, as
/// Rust does: İ becomes "i" + U+0307); the added tokens with normalized=true (&lt;|startoftext|&gt;) are cut out of
/// that; the remainder is split by CLIP's regex (whitespace dropped), each piece's UTF-8 bytes mapped through the
/// byte table, its last symbol marked with "&lt;/w&gt;", merged by rank and looked up. A sequence is
/// &lt;|startoftext|&gt;, at most maxLength − 2 content tokens, &lt;|endoftext|&gt;, then the pad token up to maxLength.
/// (Without ftfy, which only the slow Python tokenizer runs.)
/// </summary>
public sealed class ClipTokenizer
{
    public const string DefaultBos = "<|startoftext|>";
    public const string DefaultEos = "<|endoftext|>";
    const string EndOfWord = "</w>";

    // tokenizer.json's Split pattern (case-sensitive: the text is lower-cased before it).
    static readonly Regex Pattern = new(
        @"'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+", RegexOptions.CultureInvariant | RegexOptions.Compiled);
    static readonly Regex Whitespace = new(@"\s+", RegexOptions.Compiled);

    readonly Dictionary<string, int> _vocab;
    readonly Dictionary<(string, string), int> _ranks;
    readonly Dictionary<string, int[]> _cache = new(StringComparer.Ordinal);
    readonly object _cacheLock = new();

    public ClipTokenizer(IReadOnlyDictionary<string, int> vocab, IEnumerable<(string Left, string Right)> merges,
        string bos = DefaultBos, string eos = DefaultEos, string? pad = null, int modelMaxLength = 77, string source = "<tokenizer>",
        IEnumerable<(string Content, int? Id, bool Normalized)>? addedTokens = null)
    {
        Source = source;
        _vocab = new Dictionary<string, int>(vocab, StringComparer.Ordinal);
        _ranks = new Dictionary<(string, string), int>();
        int rank = 0;
        foreach (var m in merges) _ranks.TryAdd(m, rank++);
        BosId = Lookup(bos, "bos_token");
        EosId = Lookup(eos, "eos_token");
        PadId = Lookup(pad ?? eos, "pad_token");
        UnkId = EosId;   // CLIP's unk_token is <|endoftext|>
        ModelMaxLength = modelMaxLength;
        // Without tokenizer.json's added_tokens, those of the Hub's CLIP tokenizer.json: the start token matched in
        // the normalised text, the end token only as written; and a pad token of its own (SDXL's and SD3's CLIP-G
        // name "!") as the slow CLIPTokenizer diffusers loads for vocab.json + merges.txt treats its special tokens:
        // cut out of the raw text, so every "!" of a prompt is the pad id 0, not BPE's "!</w>" (256).
        addedTokens ??= pad is null || pad == bos || pad == eos ? [(bos, null, true), (eos, null, false)]
            : [(bos, null, true), (eos, null, false), (pad, null, false)];
        var raw = new List<(string, long)>();
        var normalized = new List<(string, long)>();
        // An added token's own id (tokenizer.json writes it) wins; it need not be in the vocabulary.
        foreach (var (content, id, isNormalized) in addedTokens)
            (isNormalized ? normalized : raw).Add((content, id ?? Lookup(content, "added token")));
        _rawAdded = new AddedTokenSplitter(raw);
        _normalizedAdded = new AddedTokenSplitter(normalized);
    }

    readonly AddedTokenSplitter _rawAdded, _normalizedAdded;

    /// <summary>Where the vocabulary came from (used in error messages).</summary>
    public string Source { get; }
    public int BosId { get; }
    public int EosId { get; }
    public int PadId { get; }
    public int UnkId { get; }
    /// <summary>tokenizer_config.json's model_max_length (77 for CLIP).</summary>
    public int ModelMaxLength { get; }
    public int VocabSize => _vocab.Count;

    Dictionary<long, string>? _byId;

    /// <summary>The vocabulary entry of an id (byte-table characters, "&lt;/w&gt;" on word ends), or null.</summary>
    public string? IdToToken(long id)
    {
        var byId = _byId ??= _vocab.GroupBy(p => (long)p.Value).ToDictionary(g => g.Key, g => g.First().Key);
        return byId.GetValueOrDefault(id);
    }

    int Lookup(string token, string role)
        => _vocab.TryGetValue(token, out var id) ? id
            : throw new KeyNotFoundException($"{Source}: the {role} '{token}' is not in the vocabulary");

    /// <summary>
    /// Reads a tokenizer folder: vocab.json + merges.txt (or tokenizer.json's BPE model), and the bos/eos/pad tokens
    /// and model_max_length from special_tokens_map.json / tokenizer_config.json when present. The pad token
    /// defaults to the EOS token, as the CLIP-L tokenizers of SD3 and Flux pad (SD3's CLIP-G names "!").
    /// </summary>
    public static ClipTokenizer Load(string dir)
    {
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"{dir}: tokenizer folder not found");
        string vocabPath = Path.Combine(dir, "vocab.json"), mergesPath = Path.Combine(dir, "merges.txt"), jsonPath = Path.Combine(dir, "tokenizer.json");
        Dictionary<string, int> vocab;
        List<(string, string)> merges;
        string source;
        if (File.Exists(vocabPath) && File.Exists(mergesPath))
        {
            vocab = ReadVocab(vocabPath);
            merges = ReadMerges(mergesPath);
            source = vocabPath;
        }
        else if (File.Exists(jsonPath))
        {
            (vocab, merges) = ReadTokenizerJson(jsonPath);
            source = jsonPath;
        }
        else throw new FileNotFoundException($"{dir}: neither vocab.json + merges.txt nor tokenizer.json found");

        var added = File.Exists(jsonPath) ? ReadAddedTokens(jsonPath) : null;
        var specials = ReadSpecials(Path.Combine(dir, "tokenizer_config.json"));
        foreach (var (k, v) in ReadSpecials(Path.Combine(dir, "special_tokens_map.json"))) specials[k] = v;
        int maxLength = 77;
        var cfgPath = Path.Combine(dir, "tokenizer_config.json");
        if (File.Exists(cfgPath))
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(cfgPath));
            // Some configs write a huge sentinel (1e30) when there is no limit: keep 77 then.
            if (doc.RootElement.TryGetProperty("model_max_length", out var m) && m.ValueKind == JsonValueKind.Number
                && m.TryGetDouble(out var len) && len >= 2 && len <= 1 << 20)
                maxLength = (int)len;
        }
        return new ClipTokenizer(vocab, merges,
            specials.GetValueOrDefault("bos_token", DefaultBos), specials.GetValueOrDefault("eos_token", DefaultEos),
            specials.GetValueOrDefault("pad_token"), maxLength, source, added);
    }

    /// <summary>
    /// Tokenizes each text to exactly <paramref name="maxLength"/> ids ([BOS, content…, EOS, PAD…]; content truncated
    /// to maxLength − 2 so EOS stays last) and the attention mask (1 on BOS…EOS, 0 on padding), both row-major
    /// [texts.Count, maxLength].
    /// </summary>
    public (long[] ids, long[] mask) Encode(IReadOnlyList<string> texts, int maxLength)
    {
        if (maxLength < 2) throw new ArgumentOutOfRangeException(nameof(maxLength), $"maxLength {maxLength} leaves no room for the start and end tokens");
        var ids = new long[texts.Count * maxLength];
        var mask = new long[texts.Count * maxLength];
        for (int r = 0; r < texts.Count; r++)
        {
            var content = Tokenize(texts[r]);
            int n = Math.Min(content.Count, maxLength - 2);
            var row = ids.AsSpan(r * maxLength, maxLength);
            row[0] = BosId;
            for (int i = 0; i < n; i++) row[1 + i] = content[i];
            row[1 + n] = EosId;
            for (int i = n + 2; i < maxLength; i++) row[i] = PadId;
            mask.AsSpan(r * maxLength, n + 2).Fill(1);
        }
        return (ids, mask);
    }

    /// <summary>Content ids of one text, without the start/end tokens and without truncation.</summary>
    public List<int> Tokenize(string text)
    {
        var result = new List<int>();
        foreach (var (segment, _, rawId) in _rawAdded.Split(text))
        {
            if (rawId is { } r) { result.Add((int)r); continue; }
            foreach (var (piece, _, id) in _normalizedAdded.Split(Clean(segment)))
            {
                if (id is { } n) { result.Add((int)n); continue; }
                foreach (Match m in Pattern.Matches(piece)) result.AddRange(Bpe(ClipByteEncoder.Encode(m.Value)));
            }
        }
        return result;
    }

    /// <summary>tokenizer.json's normaliser: NFC, whitespace runs to one space, lower-cased as Rust does.</summary>
    public static string Clean(string text)
        => UnicodeCasing.ToLower(Whitespace.Replace(UnicodeNormalization.Normalize(text, NormalizationForm.FormC), " "));

    /// <summary>Byte-pair merges of one byte-encoded word: repeatedly merges every occurrence of the adjacent pair
    /// with the lowest rank until no pair has one, then maps the symbols to ids.</summary>
    int[] Bpe(string word)
    {
        lock (_cacheLock) if (_cache.TryGetValue(word, out var cached)) return cached;

        var symbols = new List<string>(word.Length);
        for (int i = 0; i < word.Length - 1; i++) symbols.Add(word[i].ToString());
        symbols.Add(word[^1] + EndOfWord);

        while (symbols.Count > 1)
        {
            int bestRank = int.MaxValue;
            (string, string) best = default;
            for (int i = 0; i < symbols.Count - 1; i++)
                if (_ranks.TryGetValue((symbols[i], symbols[i + 1]), out var rank) && rank < bestRank) { bestRank = rank; best = (symbols[i], symbols[i + 1]); }
            if (bestRank == int.MaxValue) break;

            var merged = new List<string>(symbols.Count);
            for (int i = 0; i < symbols.Count; i++)
            {
                if (i < symbols.Count - 1 && symbols[i] == best.Item1 && symbols[i + 1] == best.Item2)
                {
                    merged.Add(best.Item1 + best.Item2);
                    i++;
                }
                else merged.Add(symbols[i]);
            }
            symbols = merged;
        }

        var ids = symbols.Select(s => _vocab.TryGetValue(s, out var id) ? id : UnkId).ToArray();
        lock (_cacheLock) _cache[word] = ids;
        return ids;
    }

    static Dictionary<string, int> ReadVocab(string path)
    {
        try { return JsonSerializer.Deserialize<Dictionary<string, int>>(TokenizerFile.ReadAllText(path)) ?? throw new FormatException($"{path}: empty vocabulary"); }
        catch (JsonException e) { throw new FormatException($"{path}: not a JSON object of token → id: {e.Message}", e); }
    }

    /// <summary>merges.txt: an optional "#version" header, then one "left right" pair per line in rank order.</summary>
    static List<(string, string)> ReadMerges(string path)
    {
        var merges = new List<(string, string)>();
        int lineNo = 0;
        using var lines = new StringReader(TokenizerFile.ReadAllText(path));
        for (var raw = lines.ReadLine(); raw is not null; raw = lines.ReadLine())
        {
            lineNo++;
            var line = raw.TrimEnd('\r');
            if (line.Length == 0 || (lineNo == 1 && line.StartsWith("#version", StringComparison.Ordinal))) continue;
            var parts = line.Split(' ');
            if (parts.Length != 2) throw new FormatException($"{path}: line {lineNo} is not a pair of symbols: \"{line}\"");
            merges.Add((parts[0], parts[1]));
        }
        return merges;
    }

    static (Dictionary<string, int>, List<(string, string)>) ReadTokenizerJson(string path)
    {
        using var doc = JsonDocument.Parse(TokenizerFile.ReadAllText(path));
        if (!doc.RootElement.TryGetProperty("model", out var model) || !model.TryGetProperty("vocab", out var v) || !model.TryGetProperty("merges", out var m))
            throw new FormatException($"{path}: expected a BPE model with 'model.vocab' and 'model.merges'");
        var vocab = v.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32(), StringComparer.Ordinal);
        var merges = new List<(string, string)>();
        foreach (var e in m.EnumerateArray())
        {
            // Older files write "left right", newer ones ["left", "right"].
            if (e.ValueKind == JsonValueKind.String)
            {
                var parts = e.GetString()!.Split(' ');
                if (parts.Length != 2) throw new FormatException($"{path}: merge \"{e.GetString()}\" is not a pair of symbols");
                merges.Add((parts[0], parts[1]));
            }
            else merges.Add((e[0].GetString()!, e[1].GetString()!));
        }
        return (vocab, merges);
    }

    /// <summary>tokenizer.json's added_tokens: each content and whether it is matched in the normalised text.</summary>
    static List<(string, int?, bool)> ReadAddedTokens(string path)
    {
        using var doc = JsonDocument.Parse(TokenizerFile.ReadAllText(path));
        var result = new List<(string, int?, bool)>();
        if (!doc.RootElement.TryGetProperty("added_tokens", out var at) || at.ValueKind != JsonValueKind.Array) return result;
        foreach (var t in at.EnumerateArray())
        {
            var content = t.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()!
                : throw new FormatException($"{path}: an added token without 'content': {t.GetRawText()}");
            bool normalized = t.TryGetProperty("normalized", out var n) && n.ValueKind == JsonValueKind.True;
            int? id = t.TryGetProperty("id", out var i) && i.ValueKind == JsonValueKind.Number ? i.GetInt32() : null;
            result.Add((content, id, normalized));
        }
        return result;
    }

    /// <summary>bos_token / eos_token / pad_token of a tokenizer_config.json or special_tokens_map.json, written as a
    /// string or as an object with "content".</summary>
    static Dictionary<string, string> ReadSpecials(string path)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!File.Exists(path)) return result;
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        foreach (var key in new[] { "bos_token", "eos_token", "pad_token" })
        {
            if (!doc.RootElement.TryGetProperty(key, out var e)) continue;
            string? value = e.ValueKind switch
            {
                JsonValueKind.String => e.GetString(),
                JsonValueKind.Object when e.TryGetProperty("content", out var c) => c.GetString(),
                _ => null,
            };
            if (value is not null) result[key] = value;
        }
        return result;
    }
}
