using System.Text.Json;
using XDit.Models.Tokenizers;

namespace XDit.Tests.Models;

/// <summary>
/// BERT WordPiece as HunyuanDiT's tokenizer/ folder drives it, against transformers' slow BertTokenizer
/// (bert_reference.json, written by tests/fixtures/tokenizers/make_bert_reference.py on the reference implementation):
/// a small vocab.txt with Chinese characters, accented words, punctuation and "##" pieces, lower-cased
/// (hunyuandit/tokenizer, as the Hub's) and cased (bert_cased, with an added_tokens_decoder).
/// </summary>
public class BertTokenizerTests
{
    static string Dir => TokenizerFixtures.Dir;
    static string Lower => Path.Combine(Dir, "hunyuandit", "tokenizer");
    static string Cased => Path.Combine(Dir, "bert_cased");

    sealed record Case(string Text, long[] Bert, long[] BertCased);
    sealed record Padded(string Text, long[] Ids, long[] Mask);

    static long[] Longs(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt64()).ToArray();

    static readonly Lazy<(List<Case> Cases, List<Padded> Padded)> Reference = new(() =>
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "bert_reference.json")));
        var cases = doc.RootElement.GetProperty("cases").EnumerateArray()
            .Select(c => new Case(c.GetProperty("text").GetString()!, Longs(c.GetProperty("bert")), Longs(c.GetProperty("bert_cased")))).ToList();
        var padded = doc.RootElement.GetProperty("padded_77").EnumerateArray()
            .Select(c => new Padded(c.GetProperty("text").GetString()!, Longs(c.GetProperty("input_ids")), Longs(c.GetProperty("attention_mask")))).ToList();
        return (cases, padded);
    });

    static IInspectableTokenizer Load(string dir) => Assert.IsAssignableFrom<IInspectableTokenizer>(TokenizerLoader.Load(dir));

    static void AssertAllEqual(string dir, Func<Case, long[]> expected)
    {
        var tok = Load(dir);
        var failures = new List<string>();
        foreach (var c in Reference.Value.Cases)
        {
            var got = tok.EncodeUntruncated(c.Text).ToArray();
            if (!got.SequenceEqual(expected(c)))
                failures.Add($"{JsonSerializer.Serialize(c.Text)}: expected [{string.Join(", ", expected(c))}], got [{string.Join(", ", got)}]");
        }
        Assert.True(failures.Count == 0, $"{dir}: {failures.Count} of {Reference.Value.Cases.Count} strings differ from BertTokenizer:\n" + string.Join("\n", failures));
    }

    [Fact]
    public void TheReferenceCoversChineseAccentsPunctuationAndSpecialTokens()
    {
        var texts = Reference.Value.Cases.Select(c => c.Text).ToList();
        Assert.True(texts.Count >= 40, $"expected at least 40 test strings, found {texts.Count}");
        foreach (var t in new[] { "", "一只可爱的猫在草地上", "cafe\u0301 re\u0301sume\u0301", "\u0130stanbul", "[CLS] a cat [SEP]", "a\tcat\nand\r\ndog", "unaffable" })
            Assert.Contains(t, texts);
        Assert.Contains(Reference.Value.Cases, c => c.Bert.Length > 77);
        // The two configurations disagree somewhere (else the cased one tests nothing of its own).
        Assert.Contains(Reference.Value.Cases, c => !c.Bert.SequenceEqual(c.BertCased));
    }

    [Fact] public void LowerCasedGivesBertTokenizersIds() => AssertAllEqual(Lower, c => c.Bert);
    [Fact] public void CasedGivesBertTokenizersIds() => AssertAllEqual(Cased, c => c.BertCased);

    /// <summary>The same vocabulary as BertTokenizerFast saves it (bert_json: tokenizer.json alone, BertNormalizer,
    /// BertPreTokenizer, WordPiece) against the Rust tokenizers (bert_rust_reference.json, tests/TokenizerOracle), which
    /// agree with the slow tokenizer on every string here.</summary>
    [Fact]
    public void FastTokenizerJsonGivesRustTokenizersIds()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "bert_rust_reference.json")));
        var rust = doc.RootElement.GetProperty("cases").EnumerateArray().Select(c => (Text: c.GetProperty("text").GetString()!, Ids: Longs(c.GetProperty("ids")))).ToList();
        Assert.Equal(Reference.Value.Cases.Select(c => c.Text), rust.Select(c => c.Text));
        Assert.Equal(Reference.Value.Cases.Select(c => c.Bert), rust.Select(c => c.Ids));
        var tok = Assert.IsType<PipelineTokenizer>(TokenizerLoader.Load(Path.Combine(Dir, "bert_json")));
        Assert.IsType<WordPieceModel>(tok.Model);
        var failures = rust.Where(c => !tok.EncodeUntruncated(c.Text).SequenceEqual(c.Ids))
            .Select(c => $"{JsonSerializer.Serialize(c.Text)}: expected [{string.Join(", ", c.Ids)}], got [{string.Join(", ", tok.EncodeUntruncated(c.Text))}]").ToList();
        Assert.True(failures.Count == 0, $"{failures.Count} of {rust.Count} strings differ from the Rust tokenizers:\n" + string.Join("\n", failures));
        Assert.Equal(Reference.Value.Padded[0].Ids, tok.Encode([Reference.Value.Padded[0].Text], 77).Row(0).ToArray());
    }

    [Fact]
    public void OlderFastFilesWithBertProcessingAddClsAndSep()
    {
        var dir = TestPaths.TempDir();
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(Dir, "bert_json", "tokenizer.json")))!;
        var tok0 = TokenizerLoader.Load(Path.Combine(Dir, "bert_json"));
        var cls = ((PipelineTokenizer)tok0).Prefix.Single();
        var sep = ((PipelineTokenizer)tok0).Suffix.Single();
        json["post_processor"] = System.Text.Json.Nodes.JsonNode.Parse($$"""{"type": "BertProcessing", "sep": ["[SEP]", {{sep}}], "cls": ["[CLS]", {{cls}}]}""");
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), json.ToJsonString());
        File.Copy(Path.Combine(Dir, "bert_json", "tokenizer_config.json"), Path.Combine(dir, "tokenizer_config.json"));
        var tok = Assert.IsAssignableFrom<IInspectableTokenizer>(TokenizerLoader.Load(dir));
        Assert.Equal(Assert.IsAssignableFrom<IInspectableTokenizer>(tok0).EncodeUntruncated("一只猫, unaffable"), tok.EncodeUntruncated("一只猫, unaffable"));
    }

    [Fact]
    public void PaddedToSeventySevenAsHunyuanDiTAsksItEqualsBertTokenizer()
    {
        var tok = TokenizerLoader.Load(Lower);
        Assert.Equal(77, tok.ModelMaxLength);
        foreach (var p in Reference.Value.Padded)
        {
            var enc = tok.Encode([p.Text], 77);
            Assert.Equal(p.Ids, enc.Row(0).ToArray());
            Assert.Equal(p.Mask, enc.Mask);
        }
    }

    [Fact]
    public void TruncationKeepsClsAndSepAndPadsWithPad()
    {
        var tok = Assert.IsType<PipelineTokenizer>(TokenizerLoader.Load(Lower));
        long cls = tok.Prefix.Single(), sep = tok.Suffix.Single();
        Assert.Equal(("[CLS]", "[SEP]", "[PAD]"), (tok.TokenOf(cls), tok.TokenOf(sep), tok.TokenOf(tok.PadId)));
        var texts = Reference.Value.Cases.Select(c => c.Text).ToList();
        var batch = tok.Encode(texts, 77);
        for (int b = 0; b < texts.Count; b++)
        {
            var ids = Reference.Value.Cases[b].Bert;
            int n = Math.Min(ids.Length, 77);
            var expected = ids.Take(n - 1).Append(sep).Concat(Enumerable.Repeat(tok.PadId, 77 - n)).ToArray();
            Assert.Equal(expected, batch.Row(b).ToArray());
            Assert.Equal(n, batch.ValidCount(b));
            Assert.Equal(ids.Length > 77, batch.Truncated[b]);
        }
    }

    [Fact]
    public void TruncatedTextReadsBackAsWordsWithTheirPiecesGlued()
    {
        var tok = Load(Lower);
        var ids = tok.EncodeUntruncated("Unaffable CATS, 一只猫").ToArray();
        Assert.Equal("unaffable cats , 一 只 猫", TokenText.Decode(tok, ids[1..^1]));
    }

    [Fact]
    public void VocabTxtLinesAreIdsWithCrLfAndADuplicateTakingTheLaterLine()
    {
        var dir = TestPaths.TempDir();
        File.WriteAllText(Path.Combine(dir, "vocab.txt"), "[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\n[MASK]\r\ncat\r\nhello\r\ncat\r\n##s\r\n");
        var tok = Load(dir);
        Assert.Equal([2L, 7, 8, 6, 3], tok.EncodeUntruncated("Cats hello"));
        Assert.Equal("##s", tok.TokenOf(8));
    }

    [Fact]
    public void AMissingSpecialTokenNamesTheVocabularyAndTheKey()
    {
        var dir = TestPaths.TempDir();
        File.WriteAllText(Path.Combine(dir, "vocab.txt"), "[PAD]\n[UNK]\n[SEP]\ncat\n");
        var e = Assert.Throws<FormatException>(() => TokenizerLoader.Load(dir));
        Assert.Contains("vocab.txt", e.Message);
        Assert.Contains("cls_token '[CLS]'", e.Message);
    }

    [Fact]
    public void AVocabularyThatIsNotUtf8IsNamed()
    {
        var dir = TestPaths.TempDir();
        File.WriteAllBytes(Path.Combine(dir, "vocab.txt"), [0x5B, 0x50, 0x41, 0x44, 0x5D, 0x0A, 0xC3, 0x28, 0x0A]);
        var e = Assert.Throws<FormatException>(() => TokenizerLoader.Load(dir));
        Assert.Contains("vocab.txt: not UTF-8", e.Message);
    }

    [Fact]
    public void ACorruptTokenizerConfigIsNamed()
    {
        var dir = TestPaths.TempDir();
        File.Copy(Path.Combine(Lower, "vocab.txt"), Path.Combine(dir, "vocab.txt"));
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), "{\"do_lower_case\": tru");
        var e = Assert.Throws<FormatException>(() => TokenizerLoader.Load(dir));
        Assert.Contains("tokenizer_config.json", e.Message);
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), "{\"do_lower_case\": \"yes\"}");
        e = Assert.Throws<FormatException>(() => TokenizerLoader.Load(dir));
        Assert.Contains("tokenizer_config.json", e.Message);
        Assert.Contains("do_lower_case", e.Message);
    }

    [Fact]
    public void AnEmptyFolderListsBertsVocabAmongTheFilesLookedFor()
    {
        var e = Assert.Throws<FileNotFoundException>(() => TokenizerLoader.Load(TestPaths.TempDir()));
        Assert.Contains("vocab.txt", e.Message);
    }
}
