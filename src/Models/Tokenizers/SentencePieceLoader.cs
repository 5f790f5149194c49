using System.Text.RegularExpressions;
using XDit.Runtime;

namespace XDit.Models.Tokenizers;

/// <summary>
/// A tokenizer from a folder that holds only spiece.model (PixArt's tokenizer/, HunyuanDiT's mT5 tokenizer_2/, SD3.5's
/// tokenizer_3/), built as transformers builds T5Tokenizer / T5TokenizerFast from it: the pieces and scores as a
/// Unigram model, then the extra_ids &lt;extra_id_N&gt; (N from extra_ids − 1 down to 0, as T5's ids 32000… hold them;
/// mT5 says extra_ids 0); the control, unknown and user-defined pieces and the extra ids as added tokens matched in
/// the raw text; the normaliser [precompiled character map, strip on the right, runs of two or more spaces to "▁"];
/// Metaspace prepending "▁" to every piece, also after an added token (transformers' legacy behaviour, its default
/// when tokenizer_config.json has no legacy key), only at the input's start where it says legacy: false, never
/// without add_dummy_prefix; EOS appended. The slow T5Tokenizer, which diffusers loads for PixArt and HunyuanDiT,
/// appends no second EOS to content that already ends with one ("… &lt;/s&gt;"); that holds here unless
/// tokenizer_config.json names T5TokenizerFast, which always appends it.
/// </summary>
public static class SentencePieceLoader
{
    public const string FileName = "spiece.model";
    /// <summary>The name Gemma's and Llama's tokenizer folders give their SentencePiece (BPE) model.</summary>
    public const string BpeFileName = "tokenizer.model";

    /// <summary>The folder's SentencePiece model file (spiece.model, else tokenizer.model), or null.</summary>
    public static string? ModelPath(string dir)
        => new[] { FileName, BpeFileName }.Select(f => Path.Combine(dir, f)).FirstOrDefault(File.Exists);

    /// <summary>The folder's SentencePiece model as T5Tokenizer reads a unigram model, or as GemmaTokenizer reads a
    /// BPE one (<see cref="BuildBpe"/>).</summary>
    public static PipelineTokenizer Load(string dir)
    {
        var path = ModelPath(dir) ?? throw new FileNotFoundException($"{dir}: neither {FileName} nor {BpeFileName} found", Path.Combine(dir, FileName));
        var configPath = Path.Combine(dir, "tokenizer_config.json");
        var spm = SentencePieceModel.Load(path);
        var config = File.Exists(configPath) ? JsonConfig.Load(configPath) : null;
        return spm.ModelType == 2 ? BuildBpe(spm, config) : Build(spm, config);
    }

    /// <summary>
    /// A SentencePiece BPE model (Gemma's tokenizer.model) as transformers' slow GemmaTokenizer uses it: the added
    /// tokens (tokenizer_config.json's added_tokens_decoder, and the model's control, unknown and user-defined pieces)
    /// cut out of the raw text; the rest normalised as the model's normaliser spec says (precompiled map if any,
    /// extra whitespace removed if asked, spaces to "▁", a "▁" prepended with add_dummy_prefix, which Gemma's lacks),
    /// then merged by <see cref="BpeModel"/> with the pieces' scores, unknown characters as their UTF-8 byte pieces
    /// under byte_fallback; &lt;bos&gt; before the content when add_bos_token (default true), &lt;eos&gt; after it
    /// when add_eos_token (default false).
    /// </summary>
    public static PipelineTokenizer BuildBpe(SentencePieceModel spm, JsonConfig? config)
    {
        string path = spm.Source;
        int n = spm.Pieces.Count;
        var vocab = new Dictionary<string, long>(StringComparer.Ordinal);
        var scores = new Dictionary<string, double>(StringComparer.Ordinal);
        var added = new List<(string, long)>();
        var userDefined = new List<string>();
        for (int i = 0; i < n; i++)
        {
            var (piece, score, type) = spm.Pieces[i];
            vocab.TryAdd(piece, i);
            // Only these pieces can be spelled by merging (SentencePiece keeps control, unknown and byte pieces apart).
            if (type is SentencePieceType.Normal or SentencePieceType.UserDefined or SentencePieceType.Unused) scores.TryAdd(piece, score);
            if (type is SentencePieceType.Control or SentencePieceType.Unknown or SentencePieceType.UserDefined) added.Add((piece, i));
            if (type == SentencePieceType.UserDefined) userDefined.Add(piece);
        }
        if (config is not null && config.Has("added_tokens_decoder"))
            foreach (var p in config.Get("added_tokens_decoder") is { ValueKind: System.Text.Json.JsonValueKind.Object } decoder ? decoder.EnumerateObject()
                         : throw new FormatException($"{config.Path}: added_tokens_decoder is not an object of id → token"))
                if (long.TryParse(p.Name, out var id) && p.Value.TryGetProperty("content", out var c) && c.ValueKind == System.Text.Json.JsonValueKind.String)
                    added.Add((c.GetString()!, id));
                else throw new FormatException($"{config.Path}: added_tokens_decoder entry \"{p.Name}\" is not an id with a 'content' string");

        long IdOf(string key, string fallback)
        {
            var token = TokenName(config, key) ?? fallback;
            foreach (var (c, id) in added) if (c == token) return id;
            return vocab.TryGetValue(token, out var v) ? v
                : throw new FormatException($"{path}: the {key} '{token}' is neither a piece of the model nor an added token of tokenizer_config.json");
        }

        var model = new BpeModel(vocab, (a, b) => scores.TryGetValue(a + b, out var s) ? -s : null,
            spm.UnkId >= 0 && spm.UnkId < n ? spm.UnkId : null, spm.ByteFallback, fuseUnk: false, userDefined, path);

        var normalizers = new List<ITextNormalizer>();
        if (spm.PrecompiledCharsMap.Length > 0) normalizers.Add(new PrecompiledNormalizer(spm.PrecompiledCharsMap));
        if (spm.RemoveExtraWhitespaces)
        {
            normalizers.Add(new StripNormalizer(true, true));
            normalizers.Add(new ReplaceNormalizer(new Regex(" {2,}"), " "));
        }
        var preTokenizer = spm.EscapeWhitespaces || spm.AddDummyPrefix
            ? new MetaspacePreTokenizer('\u2581', spm.AddDummyPrefix ? PrependScheme.Always : PrependScheme.Never, split: false) : null;

        long[] prefix = config?.GetBool("add_bos_token", true) ?? true ? [IdOf("bos_token", spm.Pieces[Math.Clamp(spm.BosId, 0, n - 1)].Piece)] : [];
        long[] suffix = config?.GetBool("add_eos_token", false) ?? false ? [IdOf("eos_token", spm.Pieces[Math.Clamp(spm.EosId, 0, n - 1)].Piece)] : [];
        long padId = TokenName(config, "pad_token") is not null ? IdOf("pad_token", "<pad>")
            : spm.PadId >= 0 && spm.PadId < n ? spm.PadId : spm.EosId;
        return new PipelineTokenizer(normalizers.Count > 0 ? new SequenceNormalizer(normalizers) : null, preTokenizer, model, added,
            prefix, suffix, padId, MaxLength(config), idToToken: model.IdToToken);
    }

    static int? MaxLength(JsonConfig? config)
    {
        if (config is null || !config.Has("model_max_length")) return null;
        double m = config.GetDouble("model_max_length");
        return m >= 1 && m < int.MaxValue ? (int)m : null;   // transformers writes 1e30 for "no limit"
    }

    static string? TokenName(JsonConfig? cfg, string key)
    {
        if (cfg is null || !cfg.Has(key)) return null;
        var v = cfg.Get(key);
        return v.ValueKind switch
        {
            System.Text.Json.JsonValueKind.String => v.GetString(),
            System.Text.Json.JsonValueKind.Object when v.TryGetProperty("content", out var c) => c.GetString(),
            _ => throw new FormatException($"{cfg.Path}: key '{key}' is neither a string nor an object with 'content'"),
        };
    }

    public static PipelineTokenizer Build(SentencePieceModel spm, JsonConfig? config)
    {
        string path = spm.Source;
        if (spm.ModelType != 1)
            throw new NotSupportedException($"{path}: SentencePiece model_type {spm.ModelType} is not supported (1, unigram, or 2, BPE)");
        if (spm.ByteFallback)
            throw new NotSupportedException($"{path}: SentencePiece byte_fallback is not supported");
        int n = spm.Pieces.Count;
        foreach (var (role, id) in new[] { ("unk_id", spm.UnkId), ("eos_id", spm.EosId) })
            if (id < 0 || id >= n) throw new FormatException($"{path}: trainer_spec {role} {id} is outside the {n} pieces");

        int extraIds = config?.GetInt("extra_ids", 100) ?? 100;
        var vocab = spm.Pieces.Select(p => (p.Piece, (double)p.Score)).ToList();
        var added = new List<(string, long)>();
        for (int i = 0; i < n; i++)
            if (spm.Pieces[i].Type is SentencePieceType.Control or SentencePieceType.Unknown or SentencePieceType.UserDefined)
                added.Add((spm.Pieces[i].Piece, i));
        for (int i = extraIds - 1; i >= 0; i--)
        {
            var token = $"<extra_id_{i}>";
            added.Add((token, vocab.Count));
            vocab.Add((token, 0.0));
        }
        var model = new UnigramModel(vocab, spm.UnkId);

        var normalizers = new List<ITextNormalizer>();
        if (spm.PrecompiledCharsMap.Length > 0) normalizers.Add(new PrecompiledNormalizer(spm.PrecompiledCharsMap));
        normalizers.Add(new StripNormalizer(false, true));
        normalizers.Add(new ReplaceNormalizer(new Regex(" {2,}"), "\u2581"));

        var scheme = !spm.AddDummyPrefix ? PrependScheme.Never
            : config is null || config.GetBool("legacy", true) ? PrependScheme.Always : PrependScheme.First;
        bool fast = config is not null && config.GetString("tokenizer_class", null) == "T5TokenizerFast";
        var preTokenizer = new MetaspacePreTokenizer('\u2581', scheme, split: true);

        long padId = spm.PadId >= 0 && spm.PadId < n ? spm.PadId : spm.EosId;
        int? maxLen = null;
        if (config is not null && config.Has("model_max_length"))
        {
            double m = config.GetDouble("model_max_length");
            if (m >= 1 && m < int.MaxValue) maxLen = (int)m;   // transformers writes 1e30 for "no limit"
        }
        return new PipelineTokenizer(new SequenceNormalizer(normalizers), preTokenizer, model, added, [],
            [spm.EosId], padId, maxLen, idToToken: model.IdToToken, suffixOmittedAfterItself: !fast);
    }
}
