using System.Text.Json;
using XDit.Models.Tokenizers;

namespace XDit.Tests.Models;

/// <summary>
/// Gemma's SentencePiece BPE as SANA's tokenizer/ folder holds it (sana/tokenizer: a small model trained with Gemma's
/// settings by make_gemma_reference.py, its tokenizer.json in GemmaConverter's layout): the tokenizer.json path against
/// the Rust tokenizers (gemma_rust_reference.json, tests/TokenizerOracle), the tokenizer.model path against
/// transformers' slow GemmaTokenizer (gemma_reference.json), both with &lt;bos&gt; first and byte fallback for
/// characters the model lacks, and padded on the right to SANA's 300.
/// </summary>
public class GemmaTokenizerTests
{
    static string Dir => TokenizerFixtures.Dir;
    static string Sana => Path.Combine(Dir, "sana", "tokenizer");

    static long[] Longs(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt64()).ToArray();

    static List<(string Text, long[] Ids)> Cases(string file)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, file)));
        return doc.RootElement.GetProperty("cases").EnumerateArray().Select(c => (c.GetProperty("text").GetString()!, Longs(c.GetProperty("ids")))).ToList();
    }

    /// <summary>The folder without its tokenizer.json: what a Gemma folder with only tokenizer.model loads as.</summary>
    static string ModelOnly()
    {
        var dir = TestPaths.TempDir();
        foreach (var f in new[] { "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json" })
            File.Copy(Path.Combine(Sana, f), Path.Combine(dir, f));
        return dir;
    }

    static void AssertAllEqual(string dir, string referenceFile)
    {
        var tok = Assert.IsType<PipelineTokenizer>(TokenizerLoader.Load(dir));
        var cases = Cases(referenceFile);
        Assert.True(cases.Count >= 25, $"{referenceFile}: expected at least 25 strings, found {cases.Count}");
        var failures = new List<string>();
        foreach (var (text, ids) in cases)
        {
            var got = tok.EncodeUntruncated(text).ToArray();
            if (!got.SequenceEqual(ids)) failures.Add($"{JsonSerializer.Serialize(text)}: expected [{string.Join(", ", ids)}], got [{string.Join(", ", got)}]");
        }
        Assert.True(failures.Count == 0, $"{dir}: {failures.Count} of {cases.Count} strings differ from {referenceFile}:\n" + string.Join("\n", failures));
    }

    [Fact]
    public void TheReferencesCoverByteFallbackWhitespaceAndAddedTokens()
    {
        var cases = Cases("gemma_reference.json");
        foreach (var t in new[] { "", "   ", "tabs\tand\nnewlines\r\n", "Привет мир", "<start_of_turn>user\na cat<end_of_turn>", "一只可爱的猫在草地上" })
            Assert.Contains(cases, c => c.Text == t);
        var tok = Assert.IsType<PipelineTokenizer>(TokenizerLoader.Load(Sana));
        // Some string spells a character through its UTF-8 byte pieces (<0x..>).
        Assert.Contains(cases, c => c.Ids.Any(id => tok.TokenOf(id) is { Length: 6 } p && p.StartsWith("<0x", StringComparison.Ordinal)));
        Assert.Contains(cases, c => c.Ids.Length > 300);
        // The slow and the Rust tokenizer agree on every string (else one of the two tests below tests a quirk).
        Assert.Equal(cases.Select(c => c.Ids), Cases("gemma_rust_reference.json").Select(c => c.Ids));
    }

    [Fact] public void TokenizerJsonGivesRustTokenizersIds() => AssertAllEqual(Sana, "gemma_rust_reference.json");
    [Fact] public void TokenizerModelAloneGivesGemmaTokenizersIds() => AssertAllEqual(ModelOnly(), "gemma_reference.json");

    [Fact]
    public void PaddedOnTheRightToSanasThreeHundredEqualsGemmaTokenizer()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "gemma_reference.json")));
        var padded = doc.RootElement.GetProperty("padded_300").EnumerateArray().ToList();
        Assert.True(padded.Count >= 3);
        foreach (var dir in new[] { Sana, ModelOnly() })
        {
            var tok = TokenizerLoader.Load(dir);
            Assert.Null(tok.ModelMaxLength);
            foreach (var p in padded)
            {
                var enc = tok.Encode([p.GetProperty("text").GetString()!], 300);
                Assert.Equal(Longs(p.GetProperty("input_ids")), enc.Row(0).ToArray());
                Assert.Equal(Longs(p.GetProperty("attention_mask")), enc.Mask);
            }
        }
    }

    [Fact]
    public void BosFirstPadZeroAndByteFallbackReadsBack()
    {
        var tok = Assert.IsType<PipelineTokenizer>(TokenizerLoader.Load(Sana));
        Assert.Equal(("<bos>", "<pad>"), (tok.TokenOf(tok.Prefix.Single()), tok.TokenOf(tok.PadId)));
        Assert.Empty(tok.Suffix);
        var ids = tok.EncodeUntruncated("a cat Привет 🐱").ToArray();
        Assert.Equal("a cat Привет 🐱", TokenText.Decode(tok, ids[1..]));
    }

    [Fact]
    public void ABpeModelThatLacksAByteForItsFallbackIsNamed()
    {
        var dir = TestPaths.TempDir();
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(Sana, "tokenizer.json")))!;
        json["model"]!["vocab"]!.AsObject().Remove("<0x41>");
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), json.ToJsonString());
        var e = Assert.Throws<FormatException>(() => TokenizerLoader.Load(dir));
        Assert.Contains("tokenizer.json", e.Message);
        Assert.Contains("<0x41>", e.Message);
    }

    [Fact]
    public void AMergeOutsideTheVocabularyIsNamed()
    {
        var dir = TestPaths.TempDir();
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(Sana, "tokenizer.json")))!;
        json["model"]!["merges"]!.AsArray().Add(new System.Text.Json.Nodes.JsonArray("a", "zz"));
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), json.ToJsonString());
        var e = Assert.Throws<FormatException>(() => TokenizerLoader.Load(dir));
        Assert.Contains("tokenizer.json", e.Message);
        Assert.Contains("'zz'", e.Message);
    }

    /// <summary>tokenizer.model with bytes flipped, cut or truncated (seeded): it loads and encodes, or is refused as a
    /// FormatException or NotSupportedException naming the file, never an index or overflow exception.</summary>
    [Fact]
    public void ADamagedTokenizerModelLoadsOrIsRefusedNamingIt()
    {
        var rng = new Random(19);
        var model = File.ReadAllBytes(Path.Combine(Sana, "tokenizer.model"));
        var dir = ModelOnly();
        for (int i = 0; i < 90; i++)
        {
            var bytes = model.ToList();
            switch (i % 3)
            {
                case 0: for (int k = 0; k < 4; k++) bytes[rng.Next(bytes.Count)] = (byte)rng.Next(256); break;
                case 1: { int start = rng.Next(bytes.Count); bytes.RemoveRange(start, Math.Min(1 + rng.Next(64), bytes.Count - start)); break; }
                case 2: bytes = bytes.Take(rng.Next(bytes.Count)).ToList(); break;
            }
            File.WriteAllBytes(Path.Combine(dir, "tokenizer.model"), bytes.ToArray());
            try { TokenizerLoader.Load(dir).Encode(["a cat Привет 🐱", "<start_of_turn>x"], 16); }
            catch (Exception e) when (e is FormatException or NotSupportedException)
            {
                Assert.True(e.Message.Contains("tokenizer.model") || e.Message.Contains("tokenizer_config.json"), $"case {i}: {e.Message}");
            }
        }
    }

    [Fact]
    public void ACorruptTokenizerModelIsNamed()
    {
        var dir = TestPaths.TempDir();
        File.WriteAllBytes(Path.Combine(dir, "tokenizer.model"), [0x0A, 0x40, 0x01]);
        var e = Assert.Throws<FormatException>(() => TokenizerLoader.Load(dir));
        Assert.Contains("tokenizer.model", e.Message);
    }

    [Theory]
    [InlineData("MergedWithPrevious", new[] { "a ", " ", "b" })]
    [InlineData("MergedWithNext", new[] { "a", " ", " b" })]
    [InlineData("Isolated", new[] { "a", " ", " ", "b" })]
    [InlineData("Removed", new[] { "a", "b" })]
    [InlineData("Contiguous", new[] { "a", "  ", "b" })]
    public void SplitKeepsTheMatchAsTokenizersBehaviourSays(string behavior, string[] expected)
    {
        var b = Enum.Parse<SplitBehavior>(behavior);
        Assert.Equal(expected, new SplitPreTokenizer(new System.Text.RegularExpressions.Regex(" "), b).Split("a  b", true));
    }
}
