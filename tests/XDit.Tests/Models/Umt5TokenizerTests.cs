using System.Text.Json;
using XDit.Models.Tokenizers;

namespace XDit.Tests.Models;

/// <summary>
/// The Unigram byte fallback of umT5's fast tokenizer (Wan 2.1's tokenizer/, google/umt5-xxl's 256k pieces, not stored
/// here), on a small tokenizer.json in its layout (umt5_json, written by make_umt5_json.py): characters no piece covers
/// are spelled by their UTF-8 byte pieces, against the Rust tokenizers' ids (umt5_rust_reference.json, from
/// tests/TokenizerOracle).
/// </summary>
public class Umt5TokenizerTests
{
    static string Dir => TokenizerFixtures.Folder("umt5_json");

    static List<(string Text, long[] Ids)> Cases()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(TokenizerFixtures.Dir, "umt5_rust_reference.json")));
        return doc.RootElement.GetProperty("cases").EnumerateArray()
            .Select(c => (c.GetProperty("text").GetString()!, c.GetProperty("ids").EnumerateArray().Select(x => x.GetInt64()).ToArray())).ToList();
    }

    [Fact]
    public void TokenizerJsonWithByteFallbackGivesRustTokenizersIds()
    {
        var tok = Assert.IsType<PipelineTokenizer>(TokenizerLoader.Load(Dir));
        var cases = Cases();
        Assert.True(cases.Count >= 20, $"expected at least 20 strings, found {cases.Count}");
        // the references do exercise the fallback: some string is spelled with byte pieces (ids 3 … 258)
        Assert.Contains(cases, c => c.Ids.Count(id => id is >= 3 and <= 258) >= 4);
        var failures = new List<string>();
        foreach (var (text, ids) in cases)
        {
            var got = tok.EncodeUntruncated(text).ToArray();
            if (!got.SequenceEqual(ids)) failures.Add($"{JsonSerializer.Serialize(text)}: expected [{string.Join(", ", ids)}], got [{string.Join(", ", got)}]");
        }
        Assert.True(failures.Count == 0, $"{failures.Count} of {cases.Count} strings differ from umt5_rust_reference.json:\n" + string.Join("\n", failures));
    }

    [Fact]
    public void WithoutByteFallbackAnUnknownRunIsOneUnknownPiece()
    {
        var vocab = new List<(string, double)> { ("<unk>", 0), ("<0xE6>", 0), ("<0x97>", 0), ("<0xA5>", 0), ("a", -1) };
        var ids = new List<long>();
        new UnigramModel(vocab, 0).Tokenize("a日日a", ids);
        Assert.Equal(new long[] { 4, 0, 4 }, ids);
        // with it, both characters' bytes; a run missing a byte piece stays unknown
        ids.Clear();
        new UnigramModel(vocab, 0, byteFallback: true).Tokenize("a日a", ids);
        Assert.Equal(new long[] { 4, 1, 2, 3, 4 }, ids);
        ids.Clear();
        new UnigramModel(vocab, 0, byteFallback: true).Tokenize("a本a", ids);   // 本 is E6 9C AC
        Assert.Equal(new long[] { 4, 0, 4 }, ids);
    }
}
