using System.Text;
using System.Text.Json;
using XDit.Runtime;

namespace XDit.Models.Tokenizers;

/// <summary>
/// Qwen2's tokenizer from the files its slow tokenizer reads (vocab.json + merges.txt, the added tokens and pad token
/// in tokenizer_config.json), for a folder without tokenizer.json: the parts transformers' Qwen2TokenizerFast builds
/// from them, the same as Qwen2's tokenizer.json writes (NFC; Split on <see cref="Pattern"/>, isolated; ByteLevel;
/// byte-level BPE without suffix or unknown token; no BOS/EOS).
/// </summary>
public static class Qwen2TokenizerFiles
{
    /// <summary>Qwen2's pre-tokenizer regex: contractions, letter runs (one leading non-letter), single digits,
    /// punctuation runs with their newlines, newline runs, spaces not before a word, other whitespace.</summary>
    public const string Pattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>True when tokenizer_config.json names Qwen2's tokenizer class (slow or fast).</summary>
    public static bool IsQwen2(JsonConfig? config)
        => config is not null && config.Has("tokenizer_class") && config.Get("tokenizer_class").ValueKind == JsonValueKind.String
           && config.GetString("tokenizer_class") is "Qwen2Tokenizer" or "Qwen2TokenizerFast";

    public static PipelineTokenizer Load(string dir, JsonConfig config)
    {
        var vocabPath = Path.Combine(dir, "vocab.json");
        var mergesPath = Path.Combine(dir, "merges.txt");
        var vocab = new Dictionary<string, long>(StringComparer.Ordinal);
        try
        {
            using var doc = JsonDocument.Parse(TokenizerFile.ReadAllText(vocabPath));
            foreach (var p in doc.RootElement.EnumerateObject()) vocab[p.Name] = p.Value.GetInt64();
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new FormatException($"{vocabPath}: not a JSON object of token ids: {e.Message}", e);
        }

        var ranks = new Dictionary<(string, string), int>();
        int lineNo = 0;
        foreach (var line in TokenizerFile.ReadAllText(mergesPath).Split('\n'))
        {
            lineNo++;
            var l = line.TrimEnd('\r');
            if (l.Length == 0 || (lineNo == 1 && l.StartsWith("#version", StringComparison.Ordinal))) continue;
            int sp = l.IndexOf(' ');
            if (sp <= 0 || sp == l.Length - 1 || l.IndexOf(' ', sp + 1) >= 0)
                throw new FormatException($"{mergesPath}: line {lineNo}: expected two symbols separated by one space, found '{l}'");
            var (a, b) = (l[..sp], l[(sp + 1)..]);
            foreach (var piece in new[] { a, b, a + b })
                if (!vocab.ContainsKey(piece)) throw new FormatException($"{mergesPath}: line {lineNo}: merge '{l}' names '{piece}', which is not in {vocabPath}");
            ranks.TryAdd((a, b), ranks.Count);
        }
        var model = new BpeModel(vocab, (x, y) => ranks.TryGetValue((x, y), out var r) ? r : null, null, false, false, source: mergesPath);

        // added_tokens_decoder: {"151643": {"content": "<|endoftext|>", "normalized": false, ...}, ...}
        var raw = new List<(string, long)>();
        var normalized = new List<(string, long)>();
        if (config.Has("added_tokens_decoder"))
            foreach (var p in config.Get("added_tokens_decoder").EnumerateObject())
            {
                if (!long.TryParse(p.Name, out var id) || !p.Value.TryGetProperty("content", out var c) || c.ValueKind != JsonValueKind.String)
                    throw new FormatException($"{config.Path}: added_tokens_decoder: expected \"id\": {{\"content\": …}}, found \"{p.Name}\": {p.Value.GetRawText()}");
                bool norm = p.Value.TryGetProperty("normalized", out var n) && n.ValueKind == JsonValueKind.True;
                (norm ? normalized : raw).Add((c.GetString()!, id));
            }

        long padId;
        var padToken = TokenizerLoader.TokenName(config, "pad_token")
            ?? throw new FormatException($"{config.Path}: pad_token: expected Qwen2's pad token (<|endoftext|>), found none");
        var added = raw.Concat(normalized).FirstOrDefault(t => t.Item1 == padToken);
        if (added.Item1 is not null) padId = added.Item2;
        else padId = vocab.TryGetValue(padToken, out var v) ? v : throw new FormatException($"{config.Path}: pad_token '{padToken}' is neither an added token nor in {vocabPath}");

        var preTokenizer = new SequencePreTokenizer([
            new SplitPreTokenizer(new System.Text.RegularExpressions.Regex(Pattern), SplitBehavior.Isolated),
            new ByteLevelPreTokenizer()]);
        return new PipelineTokenizer(new UnicodeNormalizer(NormalizationForm.FormC), preTokenizer, model, raw, [], [], padId,
            TokenizerLoader.ModelMaxLength(config), normalized, model.IdToToken);
    }
}
