using System.Text.Json;

namespace XDit.Tests.Cli;

/// <summary>`xdit tokenize` on the real tokenizer files of tests/fixtures/tokenizers, laid out as a pipeline folder.</summary>
[Collection("Console")]
public class TokenizeCommandTests
{
    static string Real(string folder) => TokenizerFixtures.Folder(folder);

    /// <summary>An SD3.5-like pipeline folder: CLIP twice (both layouts) and T5 as spiece.model only.</summary>
    static string PipelineFolder()
    {
        var dir = TestPaths.TempDir();
        foreach (var (name, source) in new[] { ("tokenizer", "clip"), ("tokenizer_2", "clip_json"), ("tokenizer_3", "t5_spm") })
        {
            Directory.CreateDirectory(Path.Combine(dir, name));
            foreach (var f in Directory.GetFiles(Real(source))) File.Copy(f, Path.Combine(dir, name, Path.GetFileName(f)));
        }
        Directory.CreateDirectory(Path.Combine(dir, "transformer"));   // not a tokenizer: left out
        return dir;
    }

    [Fact]
    public void JsonListsEachTokenizerOfAPipelineWithIdsTokensAndLength()
    {
        var (code, stdout, stderr) = CliRunner.Xdit("tokenize", PipelineFolder(), "-p", "hello</s>world", "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal("hello</s>world", doc.RootElement.GetProperty("prompt").GetString());
        var toks = doc.RootElement.GetProperty("tokenizers").EnumerateArray().ToList();
        Assert.Equal(["tokenizer", "tokenizer_2", "tokenizer_3"], toks.Select(t => t.GetProperty("name").GetString()));
        foreach (var clip in toks.Take(2))
        {
            Assert.Equal([49406L, 3306, 34308, 338, 285, 1002, 49407], clip.GetProperty("ids").EnumerateArray().Select(x => x.GetInt64()));
            Assert.Equal("<|startoftext|>", clip.GetProperty("tokens")[0].GetString());
            Assert.Equal("hello</w>", clip.GetProperty("tokens")[1].GetString());
            Assert.Equal(7, clip.GetProperty("length").GetInt32());
            Assert.Equal(77, clip.GetProperty("model_max_length").GetInt32());
            Assert.False(clip.GetProperty("truncated").GetBoolean());
        }
        // spiece.model alone reads as transformers' T5Tokenizer (no legacy key: legacy, "▁world" after the </s>).
        var t5 = toks[2];
        Assert.Equal([21820L, 1, 296, 1], t5.GetProperty("ids").EnumerateArray().Select(x => x.GetInt64()));
        Assert.Equal(["\u2581hello", "</s>", "\u2581world", "</s>"], t5.GetProperty("tokens").EnumerateArray().Select(x => x.GetString()));
        Assert.Equal("SentencePiece unigram (spiece.model)", t5.GetProperty("kind").GetString());
        Assert.Equal(512, t5.GetProperty("model_max_length").GetInt32());
    }

    [Fact]
    public void TextNamesTheLengthBeforeTruncationAndWhatTheLimitWouldDrop()
    {
        var prompt = string.Join(", ", Enumerable.Repeat("a red cat on a blue sofa", 20));
        var (code, stdout, stderr) = CliRunner.Xdit("tokenize", Real("t5_json"), "-p", prompt, "--max-length", "120");
        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("t5_json (tokenizer.json, model_max_length 512): ", lines[0]);
        int length = int.Parse(lines[0].Split(": ")[1].Split(' ')[0]);
        Assert.True(length > 120, lines[0]);
        Assert.StartsWith("  ids:    ", lines[1]);
        Assert.Equal(length, lines[1]["  ids:    ".Length..].Split(' ').Length);
        Assert.Contains($"truncated to 120: {length - 120} tokens would be dropped", stdout);
    }

    [Theory]
    [InlineData("/nonexistent/pipeline", "/nonexistent/pipeline: folder not found")]
    [InlineData("EMPTY", "no tokenizer here")]
    public void AFolderWithoutATokenizerGivesOneLineAndExitCode1(string dir, string expected)
    {
        if (dir == "EMPTY") dir = TestPaths.TempDir();
        var (code, _, stderr) = CliRunner.Xdit("tokenize", dir, "-p", "hello");
        Assert.Equal(1, code);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("xdit: ", lines[0]);
        Assert.Contains(expected, lines[0]);
    }
}
