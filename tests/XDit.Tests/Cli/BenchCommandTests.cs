using System.Text.Json;

namespace XDit.Tests.Cli;

[Collection("Console")]
public class BenchCommandTests
{
    [Fact]
    public void PrintsOneJsonLinePerTiming()
    {
        var (code, stdout, stderr) = CliRunner.Xdit("bench", "--what", "gemm", "--what", "attention", "--gemm-size", "64", "--tokens", "33", "--heads", "2", "--head-dim", "72", "--repeats", "1", "--json");
        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        using var gemm = JsonDocument.Parse(lines[0]);
        Assert.Equal("gemm", gemm.RootElement.GetProperty("bench").GetString());
        Assert.Equal(64, gemm.RootElement.GetProperty("size").GetProperty("k").GetInt32());
        Assert.Equal("f32", gemm.RootElement.GetProperty("size").GetProperty("dtype").GetString());
        Assert.True(gemm.RootElement.GetProperty("gflops").GetDouble() > 0);
        Assert.True(gemm.RootElement.GetProperty("tflops").GetDouble() > 0);
        using var attention = JsonDocument.Parse(lines[1]);
        Assert.Equal(72, attention.RootElement.GetProperty("size").GetProperty("head_dim").GetInt32());
    }

    [Fact]
    public void WithoutJsonEachTimingIsARowOfATableForPeople()
    {
        var (code, stdout, stderr) = CliRunner.Xdit("bench", "--what", "gemm", "--what", "attention", "--gemm-size", "64", "--tokens", "33", "--heads", "2", "--head-dim", "72", "--repeats", "1");
        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToArray();
        Assert.Equal(3, lines.Length);
        Assert.Matches(@"^bench +device +size +median ms +throughput$", lines[0]);
        Assert.Matches(@"^gemm +cpu +m=64 n=64 k=64 f32 +\d+\.\d{3} +\d+\.\d GFLOP/s$", lines[1]);
        Assert.Matches(@"^attention +cpu +tokens=33 heads=2 head_dim=72 .*GFLOP/s$", lines[2]);
        Assert.DoesNotContain("{", stdout);
    }

    [Fact]
    public void TheQkProjectionIsTimedPerShape()
    {
        // one row per shape on the CPU (CUDA adds the unfused pair and the GEMM alone: CudaLinearNormRopeTests)
        var (code, stdout, stderr) = CliRunner.Xdit("bench", "--what", "qk-projection", "--attention-shape", "12x2x8", "--attention-shape", "5x1x16", "--repeats", "1", "--json");
        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        using var second = JsonDocument.Parse(lines[1]);
        Assert.Equal("qk_projection", second.RootElement.GetProperty("bench").GetString());
        Assert.Equal(16, second.RootElement.GetProperty("size").GetProperty("head_dim").GetInt32());
        Assert.Equal("cpu", second.RootElement.GetProperty("size").GetProperty("kernel").GetString());
        Assert.True(second.RootElement.GetProperty("gflops").GetDouble() > 0);
    }

    /// <summary>--what and --attention-shape take several values per flag, so a misspelled flag after them used to pass
    /// as one of their values and be ignored (`--what gemm --gemm-sise 64` timed the default size): each value is
    /// checked while parsing now, and nothing runs.</summary>
    [Theory]
    [InlineData("--what", "gemm", "--what: '--gemm-sise' is not one of gemm, attention, qk-projection, step, forward, parallel")]
    [InlineData("--attention-shape", "64x2x72", "--attention-shape: '--gemm-sise' is not TOKENSxHEADSxHEAD_DIM")]
    public void AMisspelledFlagAfterAManyValuedOneIsNotSwallowed(string flag, string value, string expected)
    {
        var (code, stdout, stderr) = CliRunner.Xdit("bench", flag, value, "--gemm-sise", "64", "--repeats", "1");
        Assert.NotEqual(0, code);
        Assert.Contains(expected, stderr);
        Assert.Equal("", stdout.Trim());
    }

    [Fact]
    public void AttentionShapesRepeatAndABadShapeIsNamed()
    {
        var (code, stdout, stderr) = CliRunner.Xdit("bench", "--what", "attention", "--attention-shape", "33x2x72", "--attention-shape", "20x3x64", "--repeats", "1", "--json");
        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        using var second = JsonDocument.Parse(lines[1]);
        Assert.Equal(20, second.RootElement.GetProperty("size").GetProperty("tokens").GetInt32());
        Assert.Equal("cpu", second.RootElement.GetProperty("size").GetProperty("kernel").GetString());
        Assert.True(second.RootElement.GetProperty("tflops").GetDouble() > 0);

        // a window adds a line per shape, its FLOP/s counted on the band's pairs alone
        (code, stdout, stderr) = CliRunner.Xdit("bench", "--what", "attention", "--attention-shape", "40x2x32", "--attention-window", "4", "--repeats", "1", "--json");
        Assert.True(code == 0, stderr);
        lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        using var windowed = JsonDocument.Parse(lines[1]);
        Assert.Equal(4, windowed.RootElement.GetProperty("size").GetProperty("window").GetInt32());
        Assert.False(JsonDocument.Parse(lines[0]).RootElement.GetProperty("size").TryGetProperty("window", out _));
        (code, _, stderr) = CliRunner.Xdit("bench", "--what", "attention", "--attention-window", "-2");
        Assert.Equal(1, code);
        Assert.Contains("--attention-window must be ≥ 0", stderr);

        (code, _, stderr) = CliRunner.Xdit("bench", "--what", "attention", "--attention-shape", "4096x16");
        Assert.Equal(1, code);
        Assert.Contains("'4096x16' is not TOKENSxHEADSxHEAD_DIM", stderr);
    }

    [Theory]
    [InlineData("pixart-tiny", "7", 7, 2, "2 layers")]
    [InlineData("sd3-tiny", null, 333, 2, "2 layers")]     // SD3's pipeline joins 77 CLIP and 256 T5 tokens
    [InlineData("flux-tiny", null, 512, 1, "1 + 1 layers")] // diffusers' Flux timing is of one row
    [InlineData("hunyuandit-tiny", null, 10, 2, "4 layers")] // the config's text_len 4 BERT + text_len_t5 6 mT5 tokens
    [InlineData("sana-tiny", null, 300, 2, "2 layers")]    // SanaPipeline's max_sequence_length
    [InlineData("cogvideox-tiny", null, 8, 2, "2 layers")] // max_text_seq_length; 2 latent frames of 2×4 patches
    [InlineData("qwenimage-tiny", null, 256, 1, "2 layers")] // ~256 prompt tokens; the pipeline's true CFG calls once per branch
    [InlineData("wan-tiny", null, 8, 2, "2 layers")]       // 2 latent frames of 2×4 patches
    [InlineData("ltx-tiny", null, 8, 2, "2 layers")]       // 2 latent frames of 2×4 tokens (patch 1), packed
    [InlineData("flux2-tiny", null, 512, 1, "1 + 2 layers")] // Flux2Pipeline's max_sequence_length, one row
    [InlineData("zimage-tiny", null, 12, 1, "1 + 2 layers")] // Z-Image-Turbo runs without CFG: one row
    public void AForwardPassOfARealSizeModelWithRandomWeightsIsTimed(string model, string? textTokens, int expectTextTokens, int expectRows, string layers)
    {
        string[] args = ["bench", "--what", "forward", "--forward-model", model, "--repeats", "1", "--json"];
        var (code, stdout, stderr) = CliRunner.Xdit(textTokens is null ? args : [.. args, "--text-tokens", textTokens]);
        Assert.True(code == 0, stderr);
        using var line = JsonDocument.Parse(Assert.Single(stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        Assert.Equal("forward", line.RootElement.GetProperty("bench").GetString());
        var size = line.RootElement.GetProperty("size");
        Assert.Equal((16, expectTextTokens, expectRows), (size.GetProperty("image_tokens").GetInt32(), size.GetProperty("text_tokens").GetInt32(), size.GetProperty("rows").GetInt32()));
        Assert.StartsWith($"{model} with random f32 weights: {layers}", size.GetProperty("model").GetString());
        Assert.True(line.RootElement.GetProperty("median_ms").GetDouble() > 0);
    }

    [Fact]
    public void AnUnknownRealSizeModelIsNamedWithTheKnownOnes()
    {
        var (code, _, stderr) = CliRunner.Xdit("bench", "--what", "forward", "--forward-model", "pixart-huge");
        Assert.Equal(1, code);
        Assert.Contains("unknown real-size model 'pixart-huge' (known: pixart-xl-2-1024, sd3-medium, flux-dev, hunyuandit-v1.2, sana-1600m, sdxl-base, cogvideox-5b, qwen-image, hunyuanvideo, wan2.1-14b, pixart-tiny, sd3-tiny, flux-tiny, hunyuandit-tiny, sana-tiny, sdxl-tiny, cogvideox-tiny, qwenimage-tiny, hunyuanvideo-tiny, wan-tiny, mochi-1, mochi-tiny, ltx-video, ltx-tiny, flux2-dev, flux2-tiny, z-image-turbo, zimage-tiny)", stderr);
    }
}
