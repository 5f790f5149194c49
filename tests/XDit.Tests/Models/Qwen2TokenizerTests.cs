using System.Text.Json;
using XDit.Kernels.Cpu;
using XDit.Models.Qwen25VL;
using XDit.Models.Tokenizers;

namespace XDit.Tests.Models;

/// <summary>
/// Qwen2's byte-level BPE tokenizer.json (Qwen2.5-VL's, Qwen-Image's text encoder; the real 151k-token file is not
/// stored here), on a small file in its exact layout (qwen2_json, written by make_qwen2_json.py): NFC, Qwen2's Split
/// regex then ByteLevel, BPE without a word suffix, Qwen2's added tokens right after the vocabulary matched first, no
/// BOS/EOS. Held to
/// the Rust tokenizers' ids (qwen2_json_rust_reference.json, from tests/TokenizerOracle), padded to the longest prompt as
/// QwenImagePipeline asks, and checked against QwenImagePromptEmbeds' template.
/// </summary>
public class Qwen2TokenizerTests
{
    // Qwen2's added tokens follow its vocabulary (151643 <|endoftext|> …), here the 556 tokens of the small one
    const long EndOfText = 556, ImStart = 557, ImEnd = 558;

    static string Dir => TokenizerFixtures.Folder("qwen2_json");

    static PipelineTokenizer Load() => Assert.IsType<PipelineTokenizer>(TokenizerLoader.Load(Dir));

    static List<(string Text, long[] Ids)> Cases()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(TokenizerFixtures.Dir, "qwen2_json_rust_reference.json")));
        return doc.RootElement.GetProperty("cases").EnumerateArray()
            .Select(c => (c.GetProperty("text").GetString()!, c.GetProperty("ids").EnumerateArray().Select(x => x.GetInt64()).ToArray())).ToList();
    }

    [Fact]
    public void TokenizerJsonGivesRustTokenizersIds()
    {
        var tok = Load();
        var cases = Cases();
        Assert.True(cases.Count >= 30, $"expected at least 30 strings, found {cases.Count}");
        // the references exercise what they claim: added tokens inside text, merged tokens (ids past the 256 bytes),
        // and the byte tokens of bytes that do not print (ids 188 … 255: 0x00 … 0x20, 0x7F … 0xA0, 0xAD), besides the
        // space (Ġ, 220) and the newline (Ċ, 198)
        Assert.Contains(cases, c => c.Ids.Contains(ImStart) && c.Ids.Length > 3);
        Assert.Contains(cases, c => c.Ids.Any(id => id is >= 256 and < EndOfText));
        Assert.Contains(cases, c => c.Ids.Any(id => id is >= 188 and <= 255 and not (198 or 220)));
        Assert.Contains(cases, c => c.Text.Contains('\u4e00') && c.Ids.Length > 1);
        var failures = new List<string>();
        foreach (var (text, ids) in cases)
        {
            var got = tok.EncodeUntruncated(text).ToArray();
            if (!got.SequenceEqual(ids)) failures.Add($"{JsonSerializer.Serialize(text)}: expected [{string.Join(", ", ids)}], got [{string.Join(", ", got)}]");
        }
        Assert.True(failures.Count == 0, $"{failures.Count} of {cases.Count} strings differ from qwen2_json_rust_reference.json:\n" + string.Join("\n", failures));
    }

    [Fact]
    public void VocabAndMergesFilesGiveTheSameIds()
    {
        // a Qwen2 folder without tokenizer.json: vocab.json + merges.txt + tokenizer_config.json (not CLIP's, whose
        // files have the same names)
        var tok = Assert.IsType<PipelineTokenizer>(TokenizerLoader.Load(TokenizerFixtures.Folder("qwen2_json_files")));
        Assert.Equal(EndOfText, tok.PadId);
        Assert.Equal(131072, tok.ModelMaxLength);
        var cases = Cases();
        var failures = cases.Where(c => !tok.EncodeUntruncated(c.Text).SequenceEqual(c.Ids)).Select(c => JsonSerializer.Serialize(c.Text)).ToList();
        Assert.True(failures.Count == 0, $"{failures.Count} of {cases.Count} strings differ: {string.Join(", ", failures)}");

        // all of them together (as Qwen2.5-VL's repository ships): tokenizer.json, still not CLIP's reading
        var both = Directory.CreateTempSubdirectory("xdit-qwen2-");
        try
        {
            foreach (var f in Directory.GetFiles(TokenizerFixtures.Folder("qwen2_json_files")).Concat([Path.Combine(Dir, "tokenizer.json")]))
                File.Copy(f, Path.Combine(both.FullName, Path.GetFileName(f)));
            var fromJson = Assert.IsType<PipelineTokenizer>(TokenizerLoader.Load(both.FullName));
            Assert.Equal(cases[^1].Ids, fromJson.EncodeUntruncated(cases[^1].Text));
            File.Delete(Path.Combine(both.FullName, "merges.txt"));
            File.Delete(Path.Combine(both.FullName, "tokenizer.json"));
            var e = Assert.Throws<FileNotFoundException>(() => TokenizerLoader.Load(both.FullName));
            Assert.Contains("Qwen2Tokenizer: expected tokenizer.json or vocab.json + merges.txt, found neither", e.Message);
        }
        finally { both.Delete(recursive: true); }
    }

    [Fact]
    public void HubFolderGivesPadTokenMaxLengthAndNoSpecialTokens()
    {
        var tok = Load();
        Assert.Equal(EndOfText, tok.PadId);            // tokenizer_config.json pad_token <|endoftext|>, an added token
        Assert.Equal(131072, tok.ModelMaxLength);
        Assert.Equal(0, tok.SpecialCount);             // ByteLevel post-processor: no BOS, no EOS
        Assert.Equal(new long[] { ImStart, ImEnd }, tok.EncodeUntruncated("<|im_start|><|im_end|>"));
        Assert.Equal("<|im_start|>", tok.TokenOf(ImStart));
        Assert.Equal("\u0120cat", tok.TokenOf(tok.EncodeUntruncated(" cat").Single()));   // Ġ is the space byte
    }

    [Theory]
    [InlineData("\"use_regex\": false", "\"use_regex\": true", "use_regex false", "found true")]
    [InlineData("\"add_prefix_space\": false", "\"add_prefix_space\": true", "add_prefix_space false", "found true")]
    [InlineData("\"ignore_merges\": false", "\"ignore_merges\": true", "ignore_merges", "not supported")]
    [InlineData("\"behavior\": \"Isolated\"", "\"behavior\": \"Nope\"", "Split behavior 'Nope'", "Isolated")]
    [InlineData("\"type\": \"NFC\"", "\"type\": \"NFX\"", "normalizer type 'NFX'", "not supported")]
    public void RefusesWhatItDoesNotImplementInOneLineNamingFileKeyAndValue(string from, string to, string expected, string found)
    {
        var json = File.ReadAllText(Path.Combine(Dir, "tokenizer.json"));
        Assert.Contains(from, json);
        // only the pre-tokenizer's ByteLevel is changed (the post-processor's and decoder's keys are not read)
        int at = json.IndexOf(from, StringComparison.Ordinal);
        var changed = json[..at] + to + json[(at + from.Length)..];
        var e = Assert.ThrowsAny<Exception>(() => TokenizerLoader.FromJson(changed, "qwen/tokenizer.json"));
        Assert.True(e is FormatException or NotSupportedException, e.GetType().Name);
        Assert.StartsWith("qwen/tokenizer.json: ", e.Message);
        Assert.Contains(expected, e.Message);
        Assert.Contains(found, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void PadsToTheLongestPromptAndTruncatesAtMaxLength()
    {
        var tok = Load();
        ITextTokenizer it = tok;
        string[] texts = ["a cat", "A red cat sits on the blue sky", "<|im_start|>x"];
        var content = texts.Select(t => tok.EncodeUntruncated(t).ToArray()).ToArray();
        int n = content[1].Length;
        Assert.True(n > 5 && content[0].Length < n && content[2].Length < n, $"lengths {string.Join(", ", content.Select(c => c.Length))}");

        var longest = it.Encode(texts, 1058, TokenPadding.Longest);
        Assert.Equal(n, longest.Length);
        Assert.False(longest.AnyTruncated);
        for (int b = 0; b < texts.Length; b++)
        {
            var expected = content[b].Concat(Enumerable.Repeat(EndOfText, n - content[b].Length)).ToArray();
            Assert.Equal(expected, longest.Row(b).ToArray());
            Assert.Equal(Enumerable.Range(0, n).Select(j => j < content[b].Length ? 1L : 0L), longest.Mask.Skip(b * n).Take(n));
        }

        // truncation still at max length: the long prompt keeps its first 5 tokens, the others their own length
        var cut = it.Encode(texts, 5, TokenPadding.Longest);
        Assert.Equal(5, cut.Length);
        Assert.Equal(new[] { false, true, false }, cut.Truncated);
        Assert.Equal(content[1][..5], cut.Row(1).ToArray());
        Assert.Equal(2, cut.ValidCount(0));

        // MaxLength is the plain Encode, unchanged
        var fixedLength = it.Encode(texts, 12, TokenPadding.MaxLength);
        var plain = tok.Encode(texts, 12);
        Assert.Equal(12, fixedLength.Length);
        Assert.Equal(plain.Ids, fixedLength.Ids);
        Assert.Equal(plain.Mask, fixedLength.Mask);
    }

    [Fact]
    public void PaddingToTheLongestLeavesOtherTokenizersRowsAsTheyWere()
    {
        // umT5's: "</s>" appended, "<pad>" id 0; the longest row decides the length, each row its max_length prefix
        ITextTokenizer t5 = TokenizerLoader.Load(TokenizerFixtures.Folder("umt5_json"));
        string[] texts = ["a cat", "a cat sits on the red car"];
        var full = t5.Encode(texts, 32);
        var longest = t5.Encode(texts, 32, TokenPadding.Longest);
        int n = Math.Max(full.ValidCount(0), full.ValidCount(1));
        Assert.True(n is > 2 and < 32, $"longest row {n}");
        Assert.Equal(n, longest.Length);
        for (int b = 0; b < 2; b++) Assert.Equal(full.Row(b)[..n].ToArray(), longest.Row(b).ToArray());
    }

    [Fact]
    public void PromptEmbedsDropExactlyTheTemplatesTokens()
    {
        var tok = Load();
        var prefix = QwenImagePromptEmbeds.Template[..QwenImagePromptEmbeds.Template.IndexOf("{0}", StringComparison.Ordinal)];
        int templateTokens = tok.EncodeUntruncated(prefix).Count;
        // this vocabulary spells each word of the template as one token, as Qwen2's does, so the count is the pipeline's
        Assert.Equal(QwenImagePromptEmbeds.DropIdx, templateTokens);

        string[] prompts = ["A cat sitting on a red sofa, 4k", "\u4e00\u53ea\u732b"];
        var tokens = ((ITextTokenizer)tok).Encode(prompts.Select(p => string.Format(QwenImagePromptEmbeds.Template, p)).ToList(), 1024 + 34, TokenPadding.Longest);
        // hidden states that are the ids themselves (D = 1): what survives the drop is which tokens were kept
        using var ops = new CpuOps();
        using var hidden = ops.FromHost(tokens.Ids.Select(id => (float)id).ToArray(), tokens.Batch, tokens.Length, 1);
        var (embeds, mask) = QwenImagePromptEmbeds.From(ops, hidden, tokens.Mask, templateTokens);
        using (embeds)
        {
            var kept = ops.ToHost(embeds);
            int len = embeds.Dims[1];
            for (int b = 0; b < prompts.Length; b++)
            {
                // the prompt's own tokens then the template's end, "<|im_end|>\n<|im_start|>assistant\n"
                var expected = tok.EncodeUntruncated(prompts[b] + "<|im_end|>\n<|im_start|>assistant\n").ToArray();
                Assert.Equal(expected, kept.Skip(b * len).Take(mask.Skip(b * len).Take(len).Count(m => m != 0)).Select(v => (long)v));
            }
        }
    }
}
