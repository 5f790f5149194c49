using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using XDit.Runtime;

namespace XDit.Models.Tokenizers;

/// <summary>
/// Builds a tokenizer from a Hugging Face tokenizer folder: tokenizer.json (normalizer, pre_tokenizer, model,
/// post_processor, added_tokens) plus tokenizer_config.json (model_max_length, pad_token). Parts this engine does
/// not implement are refused with the file and the part's type named.
/// </summary>
public static class TokenizerLoader
{
    /// <summary>
    /// The tokenizer of a folder: BERT's WordPiece for a vocab.txt (<see cref="BertTokenizerLoader"/>: the slow
    /// BertTokenizer diffusers loads reads vocab.txt, even beside a tokenizer.json); CLIP's byte-level BPE
    /// (<see cref="ClipTextTokenizer"/>) for vocab.json + merges.txt or a tokenizer.json whose BPE words end in
    /// "&lt;/w&gt;"; otherwise the tokenizer.json parts (T5's Unigram, WordLevel, Gemma's BPE, BertTokenizerFast's
    /// WordPiece, Qwen2's byte-level BPE); without a tokenizer.json, a SentencePiece unigram spiece.model or BPE
    /// tokenizer.model (<see cref="SentencePieceLoader"/>). A folder whose tokenizer_config.json names Qwen2Tokenizer
    /// reads its tokenizer.json, or its vocab.json + merges.txt as Qwen2's (<see cref="Qwen2TokenizerFiles"/>).
    /// </summary>
    public static ITextTokenizer Load(string tokenizerDir)
    {
        if (!Directory.Exists(tokenizerDir)) throw new DirectoryNotFoundException($"{tokenizerDir}: tokenizer folder not found");
        if (File.Exists(Path.Combine(tokenizerDir, BertTokenizerLoader.VocabFile))) return BertTokenizerLoader.Load(tokenizerDir);
        var jsonPath = Path.Combine(tokenizerDir, "tokenizer.json");
        var configPath = Path.Combine(tokenizerDir, "tokenizer_config.json");
        var config = File.Exists(configPath) ? JsonConfig.Load(configPath) : null;
        // Qwen2's folders hold vocab.json + merges.txt too, which alone would read as CLIP's; without tokenizer.json
        // they are Qwen2's own byte-level BPE.
        if (Qwen2TokenizerFiles.IsQwen2(config))
        {
            if (File.Exists(jsonPath)) return FromJson(TokenizerFile.ReadAllText(jsonPath), jsonPath, config);
            if (File.Exists(Path.Combine(tokenizerDir, "vocab.json")) && File.Exists(Path.Combine(tokenizerDir, "merges.txt")))
                return Qwen2TokenizerFiles.Load(tokenizerDir, config!);
            throw new FileNotFoundException($"{tokenizerDir}: tokenizer_config.json names {config!.GetString("tokenizer_class")}: expected tokenizer.json or vocab.json + merges.txt, found neither", jsonPath);
        }
        if (IsClipBpe(tokenizerDir, jsonPath)) return new ClipTextTokenizer(ClipTokenizer.Load(tokenizerDir));
        if (!File.Exists(jsonPath))
        {
            if (SentencePieceLoader.ModelPath(tokenizerDir) is not null) return SentencePieceLoader.Load(tokenizerDir);
            throw new FileNotFoundException($"{tokenizerDir}: none of tokenizer.json, {SentencePieceLoader.FileName}, {SentencePieceLoader.BpeFileName}, BERT's {BertTokenizerLoader.VocabFile} or CLIP's vocab.json + merges.txt found", jsonPath);
        }
        return FromJson(TokenizerFile.ReadAllText(jsonPath), jsonPath, config);
    }

    /// <summary>True for CLIP's files: vocab.json + merges.txt, or a tokenizer.json with a BPE model whose words end in
    /// "&lt;/w&gt;". A BPE model without a word-end suffix (Gemma's) is read by <see cref="FromJson"/>; other suffixes
    /// are refused by name.</summary>
    static bool IsClipBpe(string dir, string jsonPath)
    {
        if (File.Exists(Path.Combine(dir, "vocab.json")) && File.Exists(Path.Combine(dir, "merges.txt"))) return true;
        if (!File.Exists(jsonPath)) return false;
        JsonDocument doc;
        try { doc = JsonDocument.Parse(TokenizerFile.ReadAllText(jsonPath)); }
        catch (JsonException e) { throw new FormatException($"{jsonPath}: not a tokenizer.json: {e.Message}", e); }
        using var _ = doc;
        if (!doc.RootElement.TryGetProperty("model", out var model) || !model.TryGetProperty("type", out var type) || type.GetString() != "BPE")
            return false;
        // Without a word-end suffix it is SentencePiece-style BPE (Gemma's), built from the tokenizer.json parts.
        var suffix = model.TryGetProperty("end_of_word_suffix", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null;
        if (string.IsNullOrEmpty(suffix)) return false;
        if (suffix != "</w>")
            throw new NotSupportedException($"{jsonPath}: a BPE tokenizer with end_of_word_suffix '{suffix}' is not supported (CLIP's byte-level BPE with '</w>', or BPE without a suffix)");
        return true;
    }

    public static PipelineTokenizer FromJson(string json, string path, JsonConfig? tokenizerConfig = null)
    {
        JsonConfig file;
        try { file = JsonConfig.Parse(json, path); }
        catch (FormatException e) { throw new FormatException($"{path}: not a tokenizer.json: {e.Message}", e); }
        var root = file.Root;

        // Added tokens with normalized=true are matched in the normalised text, the others as written.
        var added = new List<(string, long)>();
        var normalizedAdded = new List<(string, long)>();
        if (root.TryGetProperty("added_tokens", out var at) && at.ValueKind == JsonValueKind.Array)
            foreach (var t in at.EnumerateArray())
            {
                bool normalized = t.TryGetProperty("normalized", out var n) && n.ValueKind == JsonValueKind.True;
                (normalized ? normalizedAdded : added).Add((t.GetProperty("content").GetString()!, t.GetProperty("id").GetInt64()));
            }

        var model = ParseModel(Required(root, "model", path), path);
        var normalizer = ParseNormalizer(Optional(root, "normalizer"), path);
        var preTokenizer = ParsePreTokenizer(Optional(root, "pre_tokenizer"), path);
        var (prefix, suffix) = ParseTemplate(Optional(root, "post_processor"), path);

        long IdOf(string token, string what)
        {
            foreach (var (c, id) in added.Concat(normalizedAdded)) if (c == token) return id;
            return model.TokenToId(token) ?? throw new FormatException($"{path}: the {what} '{token}' is neither an added token nor in the vocabulary");
        }

        string? padToken = TokenName(tokenizerConfig, "pad_token");
        long padId;
        if (padToken is not null) padId = IdOf(padToken, "pad token");
        else if (Optional(root, "padding") is { } padding && padding.TryGetProperty("pad_id", out var pid)) padId = pid.GetInt64();
        else padId = IdOf("<pad>", "pad token");

        int? maxLen = ModelMaxLength(tokenizerConfig);

        return new PipelineTokenizer(normalizer, preTokenizer, model, added, prefix.Select(t => ResolveSpecial(t, IdOf)).SelectMany(x => x).ToArray(),
            suffix.Select(t => ResolveSpecial(t, IdOf)).SelectMany(x => x).ToArray(), padId, maxLen, normalizedAdded, model.IdToToken);
    }

    static long[] ResolveSpecial(SpecialRef r, Func<string, string, long> idOf) => r.Ids ?? [idOf(r.Name, "template token")];

    sealed record SpecialRef(string Name, long[]? Ids);

    /// <summary>tokenizer_config.json's model_max_length, or null when absent or "no limit" (transformers writes 1e30).</summary>
    internal static int? ModelMaxLength(JsonConfig? config)
    {
        if (config is null || !config.Has("model_max_length")) return null;
        double m = config.GetDouble("model_max_length");
        return m >= 1 && m < int.MaxValue ? (int)m : null;
    }

    internal static string? TokenName(JsonConfig? cfg, string key)
    {
        if (cfg is null || !cfg.Has(key)) return null;
        var v = cfg.Get(key);
        return v.ValueKind switch
        {
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Object when v.TryGetProperty("content", out var c) => c.GetString(),
            _ => throw new FormatException($"{cfg.Path}: key '{key}' is neither a string nor an object with 'content'"),
        };
    }

    static JsonElement Required(JsonElement e, string key, string path)
        => Optional(e, key) ?? throw new FormatException($"{path}: missing '{key}'");

    static JsonElement? Optional(JsonElement e, string key)
        => e.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    static string TypeOf(JsonElement e, string path, string part)
        => e.TryGetProperty("type", out var t) ? t.GetString()! : throw new FormatException($"{path}: {part} without a 'type'");

    static ITokenModel ParseModel(JsonElement m, string path)
    {
        // tokenizers omits "type" for some models; WordLevel is recognisable by its vocab object plus unk_token
        string type = m.TryGetProperty("type", out var t) ? t.GetString()! : "WordLevel";
        switch (type)
        {
            case "WordLevel":
            {
                var vocab = new Dictionary<string, long>(StringComparer.Ordinal);
                foreach (var p in Required(m, "vocab", path).EnumerateObject()) vocab[p.Name] = p.Value.GetInt64();
                var unk = Required(m, "unk_token", path).GetString()!;
                if (!vocab.TryGetValue(unk, out var unkId)) throw new FormatException($"{path}: WordLevel unk_token '{unk}' is not in the vocabulary");
                return new WordLevelModel(vocab, unkId);
            }
            case "Unigram":
                return UnigramModel.FromJson(m, path);
            case "BPE":
                return BpeModel.FromJson(m, path);
            case "WordPiece":
                return WordPieceModel.FromJson(m, path);
            default:
                throw new NotSupportedException($"{path}: tokenizer model type '{type}' is not supported (WordLevel, Unigram, BPE, WordPiece)");
        }
    }

    static ITextNormalizer? ParseNormalizer(JsonElement? n, string path)
    {
        if (n is not { } e) return null;
        string type = TypeOf(e, path, "normalizer");
        return type switch
        {
            "Lowercase" => new LowercaseNormalizer(),
            "NFC" => new UnicodeNormalizer(NormalizationForm.FormC),
            "NFD" => new UnicodeNormalizer(NormalizationForm.FormD),
            "NFKC" => new UnicodeNormalizer(NormalizationForm.FormKC),
            "NFKD" => new UnicodeNormalizer(NormalizationForm.FormKD),
            "Strip" => new StripNormalizer(Bool(e, "strip_left", true), Bool(e, "strip_right", true)),
            "Replace" => new ReplaceNormalizer(Pattern(Required(e, "pattern", path), path), Required(e, "content", path).GetString()!),
            "Precompiled" => PrecompiledNormalizer.FromJson(e, path),
            "BertNormalizer" => new BertNormalizer(Bool(e, "clean_text", true), Bool(e, "handle_chinese_chars", true),
                Bool(e, "strip_accents", Bool(e, "lowercase", true)), Bool(e, "lowercase", true)),
            "Sequence" => new SequenceNormalizer(Required(e, "normalizers", path).EnumerateArray().Select(x => ParseNormalizer(x, path)!).ToArray()),
            _ => throw new NotSupportedException($"{path}: normalizer type '{type}' is not supported"),
        };
    }

    static IPreTokenizer? ParsePreTokenizer(JsonElement? n, string path)
    {
        if (n is not { } e) return null;
        string type = TypeOf(e, path, "pre_tokenizer");
        return type switch
        {
            "WhitespaceSplit" => new WhitespaceSplitPreTokenizer(),
            "Whitespace" => new WhitespacePreTokenizer(),
            "Metaspace" => MetaspacePreTokenizer.FromJson(e, path),
            "Split" => ParseSplit(e, path),
            "BertPreTokenizer" => new BertPreTokenizer(false, false, false, new HashSet<string>(), composeNfc: false),
            "ByteLevel" => ByteLevelPreTokenizer.FromJson(e, path),
            "Sequence" => new SequencePreTokenizer(Required(e, "pretokenizers", path).EnumerateArray().Select(x => ParsePreTokenizer(x, path)!).ToArray()),
            _ => throw new NotSupportedException($"{path}: pre_tokenizer type '{type}' is not supported"),
        };
    }

    static SplitPreTokenizer ParseSplit(JsonElement e, string path)
    {
        if (e.TryGetProperty("invert", out var inv) && inv.ValueKind == JsonValueKind.True)
            throw new NotSupportedException($"{path}: a Split pre_tokenizer with invert: true is not supported");
        var behavior = e.TryGetProperty("behavior", out var b) && b.ValueKind == JsonValueKind.String ? b.GetString() : null;
        var parsed = behavior switch
        {
            "Removed" => SplitBehavior.Removed,
            "Isolated" => SplitBehavior.Isolated,
            "MergedWithPrevious" => SplitBehavior.MergedWithPrevious,
            "MergedWithNext" => SplitBehavior.MergedWithNext,
            "Contiguous" => SplitBehavior.Contiguous,
            _ => throw new FormatException($"{path}: Split behavior '{behavior ?? "null"}' is none of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous"),
        };
        return new SplitPreTokenizer(Pattern(Required(e, "pattern", path), path), parsed);
    }

    /// <summary>TemplateProcessing "single": special tokens before and after the one sequence "A".</summary>
    static (List<SpecialRef> Prefix, List<SpecialRef> Suffix) ParseTemplate(JsonElement? n, string path)
    {
        var prefix = new List<SpecialRef>();
        var suffix = new List<SpecialRef>();
        if (n is not { } e) return (prefix, suffix);
        string type = TypeOf(e, path, "post_processor");
        if (type == "BertProcessing")
        {
            // Older BertTokenizerFast files: "cls": ["[CLS]", 101], "sep": ["[SEP]", 102].
            static SpecialRef Ref(JsonElement pair) => new(pair[0].GetString()!, [pair[1].GetInt64()]);
            prefix.Add(Ref(Required(e, "cls", path)));
            suffix.Add(Ref(Required(e, "sep", path)));
            return (prefix, suffix);
        }
        // Qwen2's: ByteLevel only trims offsets, which ids do not carry; it adds no tokens.
        if (type == "ByteLevel") return (prefix, suffix);
        if (type != "TemplateProcessing") throw new NotSupportedException($"{path}: post_processor type '{type}' is not supported (TemplateProcessing, BertProcessing, ByteLevel)");
        var specials = Optional(e, "special_tokens");
        bool seenSequence = false;
        foreach (var item in Required(e, "single", path).EnumerateArray())
        {
            if (item.TryGetProperty("Sequence", out _)) { if (seenSequence) throw new NotSupportedException($"{path}: a template with two sequences is not supported"); seenSequence = true; continue; }
            if (!item.TryGetProperty("SpecialToken", out var st)) throw new FormatException($"{path}: template item {item.GetRawText()} is neither Sequence nor SpecialToken");
            var name = st.GetProperty("id").GetString()!;
            long[]? ids = null;
            if (specials is { } sp && sp.TryGetProperty(name, out var entry) && entry.TryGetProperty("ids", out var idArr))
                ids = idArr.EnumerateArray().Select(x => x.GetInt64()).ToArray();
            (seenSequence ? suffix : prefix).Add(new SpecialRef(name, ids));
        }
        if (!seenSequence) throw new FormatException($"{path}: TemplateProcessing 'single' has no Sequence");
        return (prefix, suffix);
    }

    static bool Bool(JsonElement e, string key, bool fallback) => e.TryGetProperty(key, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : fallback;

    static Regex Pattern(JsonElement p, string path)
    {
        if (p.TryGetProperty("String", out var s)) return new Regex(Regex.Escape(s.GetString()!));
        if (p.TryGetProperty("Regex", out var r)) return new Regex(r.GetString()!);
        throw new FormatException($"{path}: pattern {p.GetRawText()} is neither String nor Regex");
    }
}
