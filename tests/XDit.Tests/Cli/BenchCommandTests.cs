using System.Text.Json;

namespace XDit.Tests.Cli;

[Collection("Console")]
public class BenchCommandTests
{
    [Fact]
    public void PrintsOneJsonLinePerTiming()
    {
        var (code, stdout, stderr) = CliRunner.Xdit("bench", "--what", "gemm", "--what", "attention", "--gemm-size", "64", "--tokens", "33", "--heads", "2", "--head-dim", "72", "--repeats", "1");
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
    public void AttentionShapesRepeatAndABadShapeIsNamed()
    {
        var (code, stdout, stderr) = CliRunner.Xdit("bench", "--what", "attention", "--attention-shape", "33x2x72", "--attention-shape", "20x3x64", "--repeats", "1");
        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        using var second = JsonDocument.Parse(lines[1]);
        Assert.Equal(20, second.RootElement.GetProperty("size").GetProperty("tokens").GetInt32());
        Assert.Equal("cpu", second.RootElement.GetProperty("size").GetProperty("kernel").GetString());
        Assert.True(second.RootElement.GetProperty("tflops").GetDouble() > 0);

        (code, _, stderr) = CliRunner.Xdit("bench", "--what", "attention", "--attention-shape", "4096x16");
        Assert.Equal(1, code);
        Assert.Contains("'4096x16' is not TOKENSxHEADSxHEAD_DIM", stderr);
    }
}
