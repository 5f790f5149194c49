using System.Text.Json;
using XDit.Models.Tokenizers;

namespace XDit.Tests.Models;

public class ClipTokenizerTests
{
    // A hand-made vocabulary: ids are listed here so every expectation below can be checked by eye.
    static readonly string[] Tokens =
    [
        "!", "!</w>", ",</w>", "a", "b", "a</w>", "bc</w>", "c</w>",          // 0..7
        "hello</w>", "wor", "ld</w>", "Ã©</w>", "<|startoftext|>", "<|endoftext|>", // 8..13
        "h", "e", "l", "o</w>", "ll", "he", "hell", "w", "o", "r", "or", "d</w>", "Ã", "©</w>", // 14..27
    ];

    static readonly (string, string)[] Merges =
    [
        ("l", "l"), ("h", "e"), ("he", "ll"), ("hell", "o</w>"),   // hello: ranks 0..3
        ("o", "r"), ("w", "or"), ("l", "d</w>"),                 // world → wor ld</w>
        ("r", "l"),                                              // never reached: "o r" wins first
        ("b", "c</w>"), ("a", "b"),                              // abc: "b c</w>" has the lower rank, so a bc</w>
        ("Ã", "©</w>"),                                           // é is bytes C3 A9 → "Ã©"
    ];

    static Dictionary<string, int> Vocab() => Tokens.Select((t, i) => (t, i)).ToDictionary(p => p.t, p => p.i);

    static ClipTokenizer Make(string? pad = null) => new(Vocab(), Merges, pad: pad);

    [Fact]
    public void ByteTableMatchesGpt2()
    {
        Assert.Equal('!', ClipByteEncoder.Encode((byte)'!'));
        Assert.Equal('\u0100', ClipByteEncoder.Encode(0));
        Assert.Equal('\u0120', ClipByteEncoder.Encode((byte)' '));   // "Ġ"
        Assert.Equal('\u0143', ClipByteEncoder.Encode(0xAD));        // soft hyphen, 68th unprintable byte
        Assert.Equal('\u00FF', ClipByteEncoder.Encode(0xFF));
        Assert.Equal(256, Enumerable.Range(0, 256).Select(b => ClipByteEncoder.Encode((byte)b)).Distinct().Count());
    }

    [Fact]
    public void MergesApplyByRankNotPosition()
    {
        var tok = Make();
        Assert.Equal([8], tok.Tokenize("hello"));
        Assert.Equal([9, 10], tok.Tokenize("world"));
        Assert.Equal([3, 6], tok.Tokenize("abc"));    // a + bc</w>, not ab + c</w>
        Assert.Equal([11], tok.Tokenize("é"));
    }

    [Fact]
    public void CleansCaseAndWhitespaceAndSplitsPunctuation()
    {
        var tok = Make();
        Assert.Equal([8, 2, 9, 10, 1], tok.Tokenize("  HeLLo,\t\n WORLD! "));
        Assert.Equal([5, 5], tok.Tokenize("a a"));
        Assert.Equal([13], tok.Tokenize("z"));                        // unknown → <|endoftext|> (CLIP's unk)
        Assert.Equal([12, 8, 13], tok.Tokenize("<|startoftext|>hello<|endoftext|>"));
    }

    [Fact]
    public void EncodePadsWithEosAndMasksPadding()
    {
        var (ids, mask) = Make().Encode(["hello, world!", ""], 8);
        Assert.Equal([12, 8, 2, 9, 10, 1, 13, 13, 12, 13, 13, 13, 13, 13, 13, 13], ids);
        Assert.Equal([1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0], mask);
    }

    [Fact]
    public void EncodeTruncatesKeepingEosLast()
    {
        var (ids, mask) = Make(pad: "!").Encode(["hello, world!"], 5);
        Assert.Equal([12, 8, 2, 9, 13], ids);
        Assert.Equal([1, 1, 1, 1, 1], mask);
        var (padded, _) = Make(pad: "!").Encode(["a"], 5);
        Assert.Equal([12, 5, 13, 0, 0], padded);                     // SD3's CLIP-G pads with "!"
    }

    [Fact]
    public void LoadsVocabMergesAndPadTokenFromFolder()
    {
        var dir = TestPaths.TempDir();
        try { LoadFrom(dir); }
        finally { Directory.Delete(dir, true); }
    }

    static void LoadFrom(string dir)
    {
        File.WriteAllText(Path.Combine(dir, "vocab.json"), JsonSerializer.Serialize(Vocab()));
        File.WriteAllLines(Path.Combine(dir, "merges.txt"), new[] { "#version: 0.2" }.Concat(Merges.Select(m => $"{m.Item1} {m.Item2}")));
        File.WriteAllText(Path.Combine(dir, "special_tokens_map.json"), """{"pad_token": {"content": "!", "lstrip": false}}""");
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """{"model_max_length": 77, "pad_token": "<|endoftext|>"}""");

        var tok = ClipTokenizer.Load(dir);
        Assert.Equal(0, tok.PadId);       // special_tokens_map.json wins over tokenizer_config.json
        Assert.Equal(77, tok.ModelMaxLength);
        Assert.Equal([3, 6], tok.Tokenize("abc"));

        File.Delete(Path.Combine(dir, "special_tokens_map.json"));
        File.Delete(Path.Combine(dir, "tokenizer_config.json"));
        Assert.Equal(13, ClipTokenizer.Load(dir).PadId);   // defaults to EOS
    }

    [Fact]
    public void MissingFilesAndTokensAreNamed()
    {
        var dir = Path.Combine(Path.GetTempPath(), "xdit-no-such-tokenizer-" + Guid.NewGuid().ToString("N"));
        var d = Assert.Throws<DirectoryNotFoundException>(() => ClipTokenizer.Load(dir));
        Assert.Contains(dir, d.Message);
        dir = TestPaths.TempDir();
        var e = Assert.Throws<FileNotFoundException>(() => ClipTokenizer.Load(dir));
        Directory.Delete(dir);
        Assert.Contains(dir, e.Message);
        var k = Assert.Throws<KeyNotFoundException>(() => new ClipTokenizer(Vocab(), Merges, pad: "<pad>"));
        Assert.Contains("<pad>", k.Message);
    }
}
