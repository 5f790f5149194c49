using System.Text.Json;
using XDit.Models.Tokenizers;

namespace XDit.Tests.Models;

/// <summary>
/// The tokenizers on the real vocabularies of tests/fixtures/tokenizers (CLIP ViT-L/14 as vocab.json + merges.txt and
/// as tokenizer.json; T5 v1.1 as tokenizer.json and as spiece.model alone) against the ids Hugging Face's Rust
/// tokenizers gives for each string of strings.json (reference.json, written by tests/TokenizerOracle). spiece.model
/// holds the same model as T5's tokenizer.json, so it is held to the same ids.
/// </summary>
public class RealTokenizerTests
{
    static string Dir => TokenizerFixtures.Dir;

    sealed record Case(string Text, long[] Clip, long[] T5);

    static readonly Lazy<List<Case>> Cases = new(() =>
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "reference.json")));
        return doc.RootElement.GetProperty("cases").EnumerateArray().Select(c => new Case(
            c.GetProperty("text").GetString()!,
            c.GetProperty("clip").EnumerateArray().Select(x => x.GetInt64()).ToArray(),
            c.GetProperty("t5").EnumerateArray().Select(x => x.GetInt64()).ToArray())).ToList();
    });

    static IInspectableTokenizer Load(string folder) => Assert.IsAssignableFrom<IInspectableTokenizer>(TokenizerLoader.Load(Path.Combine(Dir, folder)));

    /// <summary>Every string's ids, with all differences listed in one failure.</summary>
    static void AssertAllEqual(string folder, Func<Case, long[]> expected)
    {
        var tok = Load(folder);
        var failures = new List<string>();
        foreach (var c in Cases.Value)
        {
            var got = tok.EncodeUntruncated(c.Text).ToArray();
            if (!got.SequenceEqual(expected(c)))
                failures.Add($"{JsonSerializer.Serialize(c.Text)}: expected [{string.Join(", ", expected(c))}], got [{string.Join(", ", got)}]");
        }
        Assert.True(failures.Count == 0, $"{folder}: {failures.Count} of {Cases.Value.Count} strings differ from the reference:\n" + string.Join("\n", failures));
    }

    [Fact]
    public void TheReferenceCoversTheKindsOfStringsAsked()
    {
        var cases = Cases.Value;
        Assert.True(cases.Count >= 68, $"expected at least 68 test strings, found {cases.Count}");
        foreach (var text in new[] { "", "   ", "cafe\u0301 decomposed", "\u0130stanbul", "hello</s>world", "<pad> padded <pad>", "an <unk> token" })
            Assert.Contains(cases, c => c.Text == text);
        Assert.Contains(cases, c => c.Text.Contains("<extra_id_0>"));
        foreach (var length in new[] { 77, 120, 256, 512 })
        {
            Assert.Contains(cases, c => c.Clip.Length > length);
            Assert.Contains(cases, c => c.T5.Length > length);
        }
    }

    [Fact] public void ClipVocabAndMergesGiveTheReferenceIds() => AssertAllEqual("clip", c => c.Clip);
    [Fact] public void ClipTokenizerJsonGivesTheReferenceIds() => AssertAllEqual("clip_json", c => c.Clip);
    [Fact] public void T5TokenizerJsonGivesTheReferenceIds() => AssertAllEqual("t5_json", c => c.T5);
    /// <summary>spiece.model alone is read as transformers' T5Tokenizer reads it (its config has no legacy key, so
    /// legacy: "▁" also after an added token; no second EOS after a written "&lt;/s&gt;"): the strings where that
    /// differs from t5_json's tokenizer (legacy: false) take the slow tokenizer's ids from t5_clip_reference.json.</summary>
    [Fact] public void T5SpieceModelAloneGivesTheReferenceIds() => AssertAllEqual("t5_spm", SpmIds);

    static readonly Lazy<Dictionary<string, long[]>> SlowT5 = new(() =>
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "t5_clip_reference.json")));
        return doc.RootElement.GetProperty("t5_spm_slow").EnumerateObject()
            .ToDictionary(p => p.Name, p => p.Value.EnumerateArray().Select(x => x.GetInt64()).ToArray());
    });

    static long[] SpmIds(Case c) => SlowT5.Value.GetValueOrDefault(c.Text) ?? c.T5;

    [Fact]
    public void TheSlowT5ExceptionsAreTheStringsWithTextAfterAWrittenEos()
    {
        Assert.Equal(["</s>", "</s>start", "hello</s>world"], SlowT5.Value.Keys.Order(StringComparer.Ordinal).ToArray());
        foreach (var (text, ids) in SlowT5.Value) Assert.NotEqual(Cases.Value.Single(c => c.Text == text).T5, ids);
    }

    [Theory]
    [InlineData("clip", 77)]
    [InlineData("clip_json", 77)]
    public void ClipTruncatesToTheLengthKeepingTheEndTokenAndPadsWithIt(string folder, int maxLength)
        => AssertTruncatesAndPads(folder, maxLength, c => c.Clip, end: 49407L, pad: 49407L);

    [Theory]
    [InlineData("t5_json", 77)]
    [InlineData("t5_json", 120)]
    [InlineData("t5_json", 256)]
    [InlineData("t5_json", 512)]
    [InlineData("t5_spm", 120)]
    [InlineData("t5_spm", 512)]
    public void T5TruncatesToTheLengthEndingWithEosAndPadsWithPad(string folder, int maxLength)
        => AssertTruncatesAndPads(folder, maxLength, folder == "t5_spm" ? SpmIds : c => c.T5, end: 1L, pad: 0L);

    /// <summary>Every case's reference ids cut to <paramref name="maxLength"/> keeping the end token last, then
    /// padded: what the tokenizer gives, with the mask counting the kept tokens and the truncation flag set.</summary>
    static void AssertTruncatesAndPads(string folder, int maxLength, Func<Case, long[]> reference, long end, long pad)
    {
        var tok = Load(folder);
        foreach (var c in Cases.Value)
        {
            var ids = reference(c);
            var row = tok.Encode([c.Text], maxLength);
            int n = Math.Min(ids.Length, maxLength);
            var expected = ids.Take(n - 1).Append(end).Concat(Enumerable.Repeat(pad, maxLength - n)).ToArray();
            Assert.Equal(expected, row.Row(0).ToArray());
            Assert.Equal(n, row.ValidCount(0));
            Assert.Equal(ids.Length > maxLength, row.Truncated[0]);
        }
    }

    [Fact]
    public void TheSpieceModelLoadsAsT5WithItsSpecialIdsAndExtraIds()
    {
        var spm = SentencePieceModel.Load(Path.Combine(Dir, "t5_spm", "spiece.model"));
        Assert.Equal(32000, spm.Pieces.Count);
        Assert.Equal((2, 1, 0, -1), (spm.UnkId, spm.EosId, spm.PadId, spm.BosId));
        Assert.Equal(("<pad>", SentencePieceType.Control), (spm.Pieces[0].Piece, spm.Pieces[0].Type));
        Assert.Equal(("<unk>", SentencePieceType.Unknown), (spm.Pieces[2].Piece, spm.Pieces[2].Type));
        Assert.Equal("nmt_nfkc", spm.NormalizerName);
        Assert.NotEmpty(spm.PrecompiledCharsMap);

        var tok = Assert.IsType<PipelineTokenizer>(TokenizerLoader.Load(Path.Combine(Dir, "t5_spm")));
        Assert.Equal(512, tok.ModelMaxLength);
        Assert.Equal(0, tok.PadId);
        Assert.Equal("<extra_id_0>", tok.TokenOf(32099));
        Assert.Equal("<extra_id_99>", tok.TokenOf(32000));
        Assert.Equal("\u2581hello", tok.TokenOf(21820));
    }

    [Fact]
    public void AnAddedTokenOutsideClipsVocabularyKeepsItsOwnIdAndIsMatchedAsWritten()
    {
        var dir = TestPaths.TempDir();
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(Dir, "clip_json", "tokenizer.json")))!;
        json["added_tokens"]!.AsArray().Add(new System.Text.Json.Nodes.JsonObject { ["id"] = 49408, ["content"] = "<sks>", ["normalized"] = false, ["special"] = false });
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), json.ToJsonString());
        var tok = Load(dir);
        Assert.Equal([49406L, 320, 49408, 2368, 49407], tok.EncodeUntruncated("a<sks>cat"));
        Assert.Equal([49406L, 320, 49408, 2368, 49407], tok.EncodeUntruncated("A <sks> CAT"));
    }

    [Fact]
    public void ASpieceModelThatIsNotOneIsRefusedWithItsPath()
    {
        var dir = TestPaths.TempDir();
        File.WriteAllBytes(Path.Combine(dir, "spiece.model"), [0x0A, 0x40, 0x01]);
        var e = Assert.Throws<FormatException>(() => TokenizerLoader.Load(dir));
        Assert.Contains("spiece.model", e.Message);
    }
}
