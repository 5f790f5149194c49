using System.Text.Json;
using System.Text.Json.Nodes;
using XDit.Models.Tokenizers;

namespace XDit.Tests.Pipelines;

/// <summary>TokenizerLoader picks CLIP's BPE (vocab.json + merges.txt, or a BPE tokenizer.json) or the tokenizer.json
/// parts (T5), and the CLIP adapter encodes as the SD3/Flux pipelines call CLIPTokenizer.</summary>
public class TokenizerLoaderClipTests
{
    // The test vocabulary (SD3FluxTestFolders.ClipVocab): "!" 0, a…z 1…26, a</w>…z</w> 27…52, re 53, red</w> 54,
    // ca 55, cat</w> 56, <|startoftext|> 57, <|endoftext|> 58.
    const long Bos = 57, Eos = 58;

    static string ClipFolder(string? pad = null)
    {
        var dir = TestPaths.TempDir();
        SD3FluxTestFolders.ClipTokenizerFiles(dir, pad);
        return dir;
    }

    [Fact]
    public void VocabAndMergesLoadAsClipAndEncodeStartContentEndThenPadding()
    {
        var tok = TokenizerLoader.Load(ClipFolder());
        Assert.IsType<ClipTextTokenizer>(tok);
        Assert.Equal(77, tok.ModelMaxLength);
        // lower-cased, whitespace collapsed; "red" and "cat" merge to one token each, "dog" stays three letters.
        var r = tok.Encode(["A Red  cat dog", ""], 10);
        Assert.Equal(new long[] { Bos, 27, 54, 56, 4, 15, 33, Eos, Eos, Eos }, r.Row(0).ToArray());
        Assert.Equal(new long[] { Bos, Eos, Eos, Eos, Eos, Eos, Eos, Eos, Eos, Eos }, r.Row(1).ToArray());
        Assert.Equal(new long[] { 1, 1, 1, 1, 1, 1, 1, 1, 0, 0 }, r.Mask[..10]);
        Assert.Equal(2, r.ValidCount(1));
        Assert.False(r.AnyTruncated);
    }

    [Fact]
    public void ThePadTokenOfTheConfigIsUsedAndTruncationKeepsTheEndToken()
    {
        var tok = TokenizerLoader.Load(ClipFolder(pad: "!"));
        var r = tok.Encode(["a red cat dog", "a red cat"], 5);
        Assert.Equal(new long[] { Bos, 27, 54, 56, Eos }, r.Row(0).ToArray());
        Assert.Equal(new[] { true, false }, r.Truncated);
        Assert.Equal(new long[] { Bos, 27, Eos, 0, 0 }, tok.Encode(["a"], 5).Row(0).ToArray());
    }

    [Fact]
    public void ABpeTokenizerJsonLoadsAsClipAndEncodesLikeVocabAndMerges()
    {
        var dir = TestPaths.TempDir();
        var model = new JsonObject
        {
            ["type"] = "BPE", ["unk_token"] = "<|endoftext|>", ["continuing_subword_prefix"] = "", ["end_of_word_suffix"] = "</w>",
            ["vocab"] = JsonSerializer.SerializeToNode(SD3FluxTestFolders.ClipVocab()),
            ["merges"] = new JsonArray(SD3FluxTestFolders.Merges.Select(m => (JsonNode)new JsonArray(m.Left, m.Right)).ToArray()),
        };
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), new JsonObject { ["model"] = model }.ToJsonString());
        var tok = TokenizerLoader.Load(dir);
        Assert.IsType<ClipTextTokenizer>(tok);
        var texts = new[] { "a red cat", "Cat, red!" };
        Assert.Equal(TokenizerLoader.Load(ClipFolder()).Encode(texts, 12).Ids, tok.Encode(texts, 12).Ids);
    }

    [Fact]
    public void ABpeTokenizerWithAnotherWordSuffixIsRefusedByName()
    {
        var dir = TestPaths.TempDir();
        var json = """{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "end_of_word_suffix": "@@"}}""";
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), json);
        var e = Assert.Throws<NotSupportedException>(() => TokenizerLoader.Load(dir));
        Assert.Contains(Path.Combine(dir, "tokenizer.json"), e.Message);
        Assert.Contains("end_of_word_suffix '@@'", e.Message);
    }

    [Fact]
    public void ABpeTokenizerWithoutAWordSuffixLoadsAsSentencePieceStyleBpe()
    {
        var dir = TestPaths.TempDir();
        var json = """{"added_tokens": [{"id": 0, "content": "<pad>", "normalized": false}], "model": {"type": "BPE", "vocab": {"<pad>": 0, "a": 1, "b": 2, "ab": 3}, "merges": [["a", "b"]], "end_of_word_suffix": null}}""";
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), json);
        var tok = Assert.IsType<PipelineTokenizer>(TokenizerLoader.Load(dir));
        Assert.IsType<BpeModel>(tok.Model);
        Assert.Equal([3L, 1, 3], tok.EncodeUntruncated("abaab"));
    }

    [Fact]
    public void AT5TokenizerJsonStillLoadsAsThePartsTokenizer()
    {
        var tok = TokenizerLoader.Load(Path.Combine(TestPaths.DemoModel, "tokenizer"));
        Assert.IsType<PipelineTokenizer>(tok);
        Assert.Equal(new long[] { 13, 16, 1, 0 }, tok.Encode(["red circle"], 4).Row(0).ToArray());
    }

    [Fact]
    public void AMissingFolderIsNamed()
    {
        var dir = Path.Combine(TestPaths.TempDir(), "tokenizer_2");
        var e = Assert.Throws<DirectoryNotFoundException>(() => TokenizerLoader.Load(dir));
        Assert.Contains(dir, e.Message);
    }

    [Fact]
    public void AMalformedTokenizerJsonIsNamed()
    {
        var dir = TestPaths.TempDir();
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), "{ \"model\": ");
        var e = Assert.Throws<FormatException>(() => TokenizerLoader.Load(dir));
        Assert.Contains(Path.Combine(dir, "tokenizer.json"), e.Message);
    }
}
