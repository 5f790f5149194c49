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

    public static PipelineTokenizer Load(string dir)
    {
        var path = Path.Combine(dir, FileName);
        var configPath = Path.Combine(dir, "tokenizer_config.json");
        return Build(SentencePieceModel.Load(path), File.Exists(configPath) ? JsonConfig.Load(configPath) : null);
    }

    public static PipelineTokenizer Build(SentencePieceModel spm, JsonConfig? config)
    {
        string path = spm.Source;
        if (spm.ModelType != 1)
            throw new NotSupportedException($"{path}: SentencePiece model_type {spm.ModelType} is not supported (only 1, unigram)");
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
