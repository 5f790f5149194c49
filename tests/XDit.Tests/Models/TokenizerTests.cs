using System.Buffers.Binary;
using XDit.Models.Tokenizers;
using XDit.Runtime;

namespace XDit.Tests.Models;

public class TokenizerTests
{
    static string DemoTokenizer => Path.Combine(TestPaths.DemoModel, "tokenizer");

    static string[] DemoPrompts()
    {
        var cfg = JsonConfig.Load(Path.Combine(TestPaths.DemoModel, "reference.json"));
        return cfg.Get("prompts").EnumerateArray().Select(e => e.GetString()!).ToArray();
    }

    [Fact]
    public void DemoPromptsTokenizeExactlyToTheStoredIdsAndMask()
    {
        var tok = TokenizerLoader.Load(DemoTokenizer);
        Assert.Equal(12, tok.ModelMaxLength);
        using var reference = new SafetensorsFile(Path.Combine(TestPaths.DemoModel, "reference.safetensors"));
        using var ids = reference.Read("input_ids");
        using var mask = reference.Read("attention_mask");

        var result = tok.Encode(DemoPrompts(), tok.ModelMaxLength!.Value);

        Assert.Equal(ids.Dim(0), result.Batch);
        Assert.Equal(ids.Dim(1), result.Length);
        Assert.Equal(ids.Span<long>().ToArray(), result.Ids);
        Assert.Equal(mask.Span<long>().ToArray(), result.Mask);
        Assert.False(result.AnyTruncated);
    }

    [Fact]
    public void EmptyNegativePromptIsOnlyEndOfSequence()
    {
        var r = TokenizerLoader.Load(DemoTokenizer).Encode([""], 12);
        Assert.Equal(new long[] { 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, r.Ids);
        Assert.Equal(1, r.ValidCount(0));
    }

    [Fact]
    public void UnknownWordsMapToUnkAndCaseAndSpacingAreIgnored()
    {
        var r = TokenizerLoader.Load(DemoTokenizer).Encode(["  A   PURPLE\tzebra on\nGreen  "], 8);
        // a=3 purple=12 <unk>=2 on=4 green=10 </s>=1 then <pad>=0
        Assert.Equal(new long[] { 3, 12, 2, 4, 10, 1, 0, 0 }, r.Ids);
        Assert.Equal(new long[] { 1, 1, 1, 1, 1, 1, 0, 0 }, r.Mask);
    }

    [Fact]
    public void TooLongTextKeepsTheFirstTokensThenEndOfSequence()
    {
        var words = string.Join(' ', Enumerable.Repeat("red blue", 10));
        var r = TokenizerLoader.Load(DemoTokenizer).Encode(["a circle", words], 6);
        Assert.Equal(new long[] { 3, 16, 1, 0, 0, 0, 13, 7, 13, 7, 13, 1 }, r.Ids);
        Assert.Equal(new long[] { 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1 }, r.Mask);
        Assert.Equal(new[] { false, true }, r.Truncated);

        // exactly max_length − 1 content tokens is not truncated
        var exact = TokenizerLoader.Load(DemoTokenizer).Encode(["red blue red blue red"], 6);
        Assert.False(exact.Truncated[0]);
        Assert.Throws<ArgumentOutOfRangeException>(() => TokenizerLoader.Load(DemoTokenizer).Encode(["a"], 1));
    }

    [Fact]
    public void SpecialTokenWrittenInTheTextStaysOneToken()
    {
        var r = TokenizerLoader.Load(DemoTokenizer).Encode(["red</s>blue"], 5);
        Assert.Equal(new long[] { 13, 1, 7, 1, 0 }, r.Ids);
    }

    [Fact]
    public void UnsupportedPartsAreRefusedWithTheirNames()
    {
        // Every model type tokenizers writes (WordLevel, Unigram, BPE, WordPiece) is read now: a made-up one stands in.
        var json = File.ReadAllText(Path.Combine(DemoTokenizer, "tokenizer.json")).Replace("\"WordLevel\"", "\"CharLevel\"");
        var e = Assert.Throws<NotSupportedException>(() => TokenizerLoader.FromJson(json, "x/tokenizer.json"));
        Assert.Contains("CharLevel", e.Message);
        Assert.Contains("x/tokenizer.json", e.Message);
    }

    const string UnigramJson = """
    {
      "added_tokens": [ {"id": 0, "content": "<pad>", "special": true}, {"id": 1, "content": "</s>", "special": true}, {"id": 2, "content": "<unk>", "special": true} ],
      "normalizer": {"type": "Sequence", "normalizers": [ {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "} ]},
      "pre_tokenizer": {"type": "Sequence", "pretokenizers": [ {"type": "WhitespaceSplit"}, {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": true} ]},
      "post_processor": {"type": "TemplateProcessing", "single": [ {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}} ],
                         "pair": [], "special_tokens": {"</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}}},
      "model": {"type": "Unigram", "unk_id": 2, "byte_fallback": false, "vocab": [
        ["<pad>", 0.0], ["</s>", 0.0], ["<unk>", 0.0], ["\u2581", -3.0], ["\u2581the", -2.0], ["\u2581t", -4.0], ["he", -3.5],
        ["\u2581cat", -3.0], ["\u2581c", -4.0], ["at", -2.5], ["s", -2.0], ["\u2581cats", -9.0], ["a", -3.0], ["t", -3.0], ["c", -3.0] ]}
    }
    """;

    [Fact]
    public void UnigramPicksTheBestScoringSegmentation()
    {
        var tok = TokenizerLoader.FromJson(UnigramJson, "unigram.json");
        var r = tok.Encode(["the cats"], 8);
        // "▁the" (−2) beats "▁t"+"he" (−7.5); "▁cat"+"s" (−5) beats "▁cats" (−9) and "▁c"+"at"+"s" (−8.5)
        Assert.Equal(new long[] { 4, 7, 10, 1, 0, 0, 0, 0 }, r.Ids);
    }

    [Fact]
    public void UnigramFusesUncoveredCharactersIntoOneUnknown()
    {
        var tok = TokenizerLoader.FromJson(UnigramJson, "unigram.json");
        // "▁" then "xyz" is not covered by any piece → one <unk>; "at" is a piece
        var r = tok.Encode(["xyzat"], 6);
        Assert.Equal(new long[] { 3, 2, 9, 1, 0, 0 }, r.Ids);
    }

    [Fact]
    public void PrecompiledCharsMapReplacesMatchedCharacters()
    {
        // A one-key darts-clone trie: 'A' → "a". Root offset 1; the 'A' unit sits at 1 ^ 0x41 = 64 with a leaf
        // whose value unit (at 64 ^ 1 = 65) points at offset 0 of the replacement blob "a\0".
        var units = new uint[66];
        units[0] = 1u << 10;
        units[64] = (1u << 10) | (1u << 8) | 0x41;
        units[65] = 0x80000000u | 0;
        var blob = new byte[4 + units.Length * 4 + 2];
        BinaryPrimitives.WriteUInt32LittleEndian(blob, (uint)(units.Length * 4));
        for (int i = 0; i < units.Length; i++) BinaryPrimitives.WriteUInt32LittleEndian(blob.AsSpan(4 + 4 * i), units[i]);
        blob[^2] = (byte)'a';
        var n = new PrecompiledNormalizer(blob);
        Assert.Equal("xaBya", n.Normalize("xAByA"));
    }
}
