using System.Text;
using System.Text.Json;
using XDit.Runtime;

namespace XDit.Models.Tokenizers;

/// <summary>
/// transformers' slow BertTokenizer from the files of a BERT tokenizer folder (HunyuanDiT's tokenizer/: vocab.txt,
/// tokenizer_config.json, special_tokens_map.json), which is what diffusers loads for a model_index.json entry
/// ["transformers", "BertTokenizer"]: the added tokens (the special tokens and tokenizer_config.json's
/// added_tokens_decoder) are cut out of the raw text case-sensitively; the rest goes through
/// <see cref="BertPreTokenizer"/> and <see cref="WordPieceModel"/>; a sequence is [CLS] content [SEP], padded with
/// [PAD]. Keys read from tokenizer_config.json: do_lower_case (true), do_basic_tokenize (true), never_split,
/// tokenize_chinese_chars (true), strip_accents (null: as do_lower_case), the cls/sep/pad/unk/mask tokens,
/// model_max_length; special_tokens_map.json's tokens win over tokenizer_config.json's, as in transformers.
/// Written here rather than taken from Microsoft.ML.Tokenizers' BertTokenizer (3.0.0), which does not give
/// transformers' ids: it deletes \t, \n and \r instead of splitting there, recomposes the text to NFC after
/// stripping accents (Hangul jamo, for one, come back as syllables), lower-cases only category Lu and strips accents
/// through string.Normalize, which the engine's invariant globalization mode makes a no-op.
/// </summary>
public static class BertTokenizerLoader
{
    public const string VocabFile = "vocab.txt";

    public static PipelineTokenizer Load(string dir)
    {
        var vocabPath = Path.Combine(dir, VocabFile);
        var vocab = ReadVocab(vocabPath);
        var configPath = Path.Combine(dir, "tokenizer_config.json");
        var mapPath = Path.Combine(dir, "special_tokens_map.json");
        var config = File.Exists(configPath) ? JsonConfig.Load(configPath) : null;
        var map = File.Exists(mapPath) ? JsonConfig.Load(mapPath) : null;

        string Special(string key, string fallback) => TokenName(map, key) ?? TokenName(config, key) ?? fallback;
        var specials = new Dictionary<string, string>
        {
            ["unk_token"] = Special("unk_token", "[UNK]"), ["sep_token"] = Special("sep_token", "[SEP]"),
            ["pad_token"] = Special("pad_token", "[PAD]"), ["cls_token"] = Special("cls_token", "[CLS]"),
            ["mask_token"] = Special("mask_token", "[MASK]"),
        };

        // Added tokens: tokenizer_config.json's added_tokens_decoder with their own ids, then the special tokens
        // (their vocabulary ids) that it does not list.
        var added = new List<(string Content, long Id)>();
        if (config is not null && config.Has("added_tokens_decoder"))
        {
            var decoder = config.Get("added_tokens_decoder");
            if (decoder.ValueKind != JsonValueKind.Object) throw new FormatException($"{config.Path}: added_tokens_decoder is not an object of id → token");
            foreach (var p in decoder.EnumerateObject())
            {
                if (!long.TryParse(p.Name, out var id) || !p.Value.TryGetProperty("content", out var c) || c.ValueKind != JsonValueKind.String)
                    throw new FormatException($"{config.Path}: added_tokens_decoder entry \"{p.Name}\" is not an id with a 'content' string");
                added.Add((c.GetString()!, id));
            }
        }
        var extra = map is not null && map.Has("additional_special_tokens") ? map.Get("additional_special_tokens")
            : config is not null && config.Has("additional_special_tokens") ? config.Get("additional_special_tokens") : (JsonElement?)null;
        var specialNames = specials.Values.ToList();
        if (extra is { ValueKind: JsonValueKind.Array } arr)
            foreach (var e in arr.EnumerateArray())
                if (ContentOf(e) is { } s) specialNames.Add(s);
        foreach (var s in specialNames)
            if (!added.Any(a => a.Content == s) && vocab.TryGetValue(s, out var id)) added.Add((s, id));

        long IdOf(string key)
        {
            var token = specials[key];
            foreach (var (c, id) in added) if (c == token) return id;
            throw new FormatException($"{vocabPath}: the {key} '{token}' is neither in the vocabulary nor an added token of tokenizer_config.json");
        }

        bool lower = config?.GetBool("do_lower_case", true) ?? true;
        bool basic = config?.GetBool("do_basic_tokenize", true) ?? true;
        bool chinese = config?.GetBool("tokenize_chinese_chars", true) ?? true;
        bool? strip = config is not null && config.Has("strip_accents") ? config.GetBool("strip_accents") : null;
        var neverSplit = new HashSet<string>(config is not null && config.Has("never_split") ? config.GetStringArray("never_split") : [], StringComparer.Ordinal);

        // Without the basic tokenizer transformers neither lower-cases nor splits punctuation: WordPiece sees the
        // whitespace-separated words as written.
        IPreTokenizer pre = basic ? new BertPreTokenizer(lower, strip ?? lower, chinese, neverSplit) : new WhitespaceSplitPreTokenizer();
        var model = new WordPieceModel(vocab, IdOf("unk_token"), "##", basic ? neverSplit : null);

        int? maxLen = null;
        if (config is not null && config.Has("model_max_length"))
        {
            double m = config.GetDouble("model_max_length");
            if (m >= 1 && m < int.MaxValue) maxLen = (int)m;   // transformers writes 1e30 for "no limit"
        }
        return new PipelineTokenizer(null, pre, model, added, [IdOf("cls_token")], [IdOf("sep_token")], IdOf("pad_token"), maxLen,
            idToToken: model.IdToToken);
    }

    /// <summary>vocab.txt: one token a line, its id the line's index (from 0); a token written twice keeps the later
    /// index, as transformers' load_vocab does. Lines end at \n, \r\n or \r (Python's universal newlines).</summary>
    public static Dictionary<string, long> ReadVocab(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: BERT vocabulary not found", path);
        string text;
        try { text = new UTF8Encoding(false, true).GetString(TokenizerFile.ReadAllBytes(path)); }
        catch (DecoderFallbackException e) { throw new FormatException($"{path}: not UTF-8 text: {e.Message}", e); }
        var vocab = new Dictionary<string, long>(StringComparer.Ordinal);
        long index = 0;
        int start = 0;
        for (int i = 0; i <= text.Length; i++)
        {
            if (i < text.Length && text[i] != '\n' && text[i] != '\r') continue;
            if (i == text.Length && start == text.Length) break;   // no line after the last line break
            vocab[text[start..i]] = index++;
            if (i < text.Length && text[i] == '\r' && i + 1 < text.Length && text[i + 1] == '\n') i++;
            start = i + 1;
        }
        if (vocab.Count == 0) throw new FormatException($"{path}: empty vocabulary");
        return vocab;
    }

    static string? TokenName(JsonConfig? cfg, string key) => cfg is not null && cfg.Has(key) ? ContentOf(cfg.Get(key))
        ?? throw new FormatException($"{cfg.Path}: key '{key}' is neither a string nor an object with 'content'") : null;

    static string? ContentOf(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.String => v.GetString(),
        JsonValueKind.Object when v.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String => c.GetString(),
        _ => null,
    };
}
