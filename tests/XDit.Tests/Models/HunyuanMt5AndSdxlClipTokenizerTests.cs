using System.Text.Json;
using XDit.Models.Tokenizers;

namespace XDit.Tests.Models;

/// <summary>
/// HunyuanDiT's tokenizer_2 (T5Tokenizer on a spiece.model with mT5's config: extra_ids 0, no legacy key; here T5's
/// stored spiece.model) and SDXL's tokenizer_2 (CLIP padding with "!"), loaded from Hub-shaped folders, against the
/// slow transformers tokenizers diffusers loads for them (t5_clip_reference.json, from make_t5_clip_reference.py).
/// </summary>
public class HunyuanMt5AndSdxlClipTokenizerTests
{
    static string Dir => TokenizerFixtures.Dir;
    static string Mt5 => Path.Combine(Dir, "hunyuandit", "tokenizer_2");
    static string SdxlClip2 => Path.Combine(Dir, "sdxl", "tokenizer_2");

    static readonly Lazy<JsonDocument> Reference = new(() => JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "t5_clip_reference.json"))));

    static long[] Longs(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt64()).ToArray();

    static IEnumerable<(string Text, long[] Ids, long[] Mask)> Padded(string key)
        => Reference.Value.RootElement.GetProperty(key).EnumerateArray()
            .Select(c => (c.GetProperty("text").GetString()!, Longs(c.GetProperty("input_ids")), Longs(c.GetProperty("attention_mask"))));

    static void AssertPadded(ITextTokenizer tok, string key, int maxLength)
    {
        int n = 0;
        foreach (var (text, ids, mask) in Padded(key))
        {
            var enc = tok.Encode([text], maxLength);
            Assert.True(ids.SequenceEqual(enc.Row(0).ToArray()), $"{JsonSerializer.Serialize(text)}: expected [{string.Join(", ", ids)}], got [{string.Join(", ", enc.Row(0).ToArray())}]");
            Assert.Equal(mask, enc.Mask);
            n++;
        }
        Assert.True(n >= 3, $"{key}: expected at least 3 reference encodings, found {n}");
    }

    [Fact]
    public void Mt5FolderGivesT5TokenizersIds()
    {
        var tok = Assert.IsType<PipelineTokenizer>(TokenizerLoader.Load(Mt5));
        var failures = new List<string>();
        int count = 0;
        foreach (var c in Reference.Value.RootElement.GetProperty("mt5").EnumerateArray())
        {
            var text = c.GetProperty("text").GetString()!;
            var expected = Longs(c.GetProperty("ids"));
            var got = tok.EncodeUntruncated(text).ToArray();
            if (!got.SequenceEqual(expected)) failures.Add($"{JsonSerializer.Serialize(text)}: expected [{string.Join(", ", expected)}], got [{string.Join(", ", got)}]");
            count++;
        }
        Assert.True(count >= 20, $"expected at least 20 mT5 strings, found {count}");
        Assert.True(failures.Count == 0, $"{failures.Count} of {count} strings differ from T5Tokenizer:\n" + string.Join("\n", failures));
    }

    [Fact]
    public void Mt5HasNoExtraIdsEosOneAndPadZero()
    {
        var tok = Assert.IsType<PipelineTokenizer>(TokenizerLoader.Load(Mt5));
        Assert.Equal((0L, 1L), (tok.PadId, tok.Suffix.Single()));
        Assert.Empty(tok.Prefix);
        Assert.Null(tok.TokenOf(32000));   // extra_ids 0: nothing past the model's pieces
        Assert.Null(tok.ModelMaxLength);   // transformers' 1e30 for "no limit"
    }

    [Fact] public void Mt5PaddedTo256AsHunyuanDiTAsksItEqualsT5Tokenizer() => AssertPadded(TokenizerLoader.Load(Mt5), "mt5_padded_256", 256);

    [Fact]
    public void SdxlSecondClipPadsWithTheExclamationMarkItsFilesName()
    {
        var tok = Assert.IsType<ClipTextTokenizer>(TokenizerLoader.Load(SdxlClip2));
        Assert.Equal(("!", 49407), (tok.TokenOf(tok.Inner.PadId), tok.Inner.EosId));
        Assert.Equal(0, tok.Inner.PadId);
        AssertPadded(tok, "sdxl_clip2_padded_77", 77);
    }

    [Fact]
    public void AFastT5ConfigAppendsEosEvenAfterAWrittenOne()
    {
        var dir = TestPaths.TempDir();
        File.Copy(Path.Combine(Dir, "t5_spm", "spiece.model"), Path.Combine(dir, "spiece.model"));
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """{"extra_ids": 0, "tokenizer_class": "T5TokenizerFast"}""");
        var fast = Assert.IsType<PipelineTokenizer>(TokenizerLoader.Load(dir));
        var slow = Assert.IsType<PipelineTokenizer>(TokenizerLoader.Load(Mt5));
        Assert.Equal([1L, 1], fast.EncodeUntruncated("</s>"));
        Assert.Equal([1L], slow.EncodeUntruncated("</s>"));
    }
}
