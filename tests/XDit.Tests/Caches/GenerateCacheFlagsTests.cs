namespace XDit.Tests.Caches;

/// <summary>`xdit generate --use-teacache / --use-fbcache` on the demo model.</summary>
[Collection("Console")]
public class GenerateCacheFlagsTests
{
    [Theory]
    [InlineData("--use-fbcache", "fbcache")]
    [InlineData("--use_teacache", "teacache")]
    public void TheCacheRunsAndReportsItsSteps(string flag, string method)
    {
        var png = Path.Combine(TestPaths.TempDir(), "c.png");
        var (code, stdout, stderr) = CliRunner.Xdit("generate", "-p", "a red circle on a blue background", "--steps", "8", flag, "--cache-threshold", "0.2", "-o", png);
        Assert.True(code == 0, stderr);
        Assert.True(File.Exists(png));
        var line = stdout.Split('\n').Single(l => l.StartsWith(method, StringComparison.Ordinal));
        Assert.Contains("threshold 0.2", line);
        // 8 steps in all, split between computed and skipped.
        var m = System.Text.RegularExpressions.Regex.Match(line, @"(\d+) steps computed, (\d+) skipped");
        Assert.True(m.Success, line);
        Assert.Equal(8, int.Parse(m.Groups[1].Value) + int.Parse(m.Groups[2].Value));
    }

    [Theory]
    [InlineData("--ulysses-degree", "2")]
    [InlineData("--ring-degree", "2")]
    [InlineData("--pipefusion-parallel-degree", "2")]
    public void ParallelDegreesOtherThanDataAreRefused(string option, string value)
    {
        var (code, _, stderr) = CliRunner.Xdit("generate", "-p", "x", "--use-fbcache", option, value, "-o", Path.Combine(TestPaths.TempDir(), "x.png"));
        Assert.Equal(1, code);
        Assert.Contains("--use-fbcache", stderr);
        Assert.Contains(option, stderr);
    }

    [Fact]
    public void CfgParallelIsRefusedAndBothCachesTogetherToo()
    {
        var png = Path.Combine(TestPaths.TempDir(), "x.png");
        var (code, _, stderr) = CliRunner.Xdit("generate", "-p", "x", "--use-teacache", "--use-cfg-parallel", "-o", png);
        Assert.Equal(1, code);
        Assert.Contains("--use-cfg-parallel", stderr);
        (code, _, stderr) = CliRunner.Xdit("generate", "-p", "x", "--use-teacache", "--use-fbcache", "-o", png);
        Assert.Equal(1, code);
        Assert.Contains("choose one", stderr);
        (code, _, stderr) = CliRunner.Xdit("generate", "-p", "x", "--cache-threshold", "0.1", "-o", png);
        Assert.Equal(1, code);
        Assert.Contains("needs --use-teacache or --use-fbcache", stderr);
    }

    [Fact]
    public void DataParallelReplicasEachCache()
    {
        var png = Path.Combine(TestPaths.TempDir(), "dp.png");
        var (code, stdout, stderr) = CliRunner.Xdit("generate", "-p", "a red circle on a blue background", "-p", "a yellow square on a black background",
            "--steps", "6", "--use-fbcache", "--data-parallel-degree", "2", "-o", png);
        Assert.True(code == 0, stderr);
        Assert.Equal(2, stdout.Split('\n').Count(l => l.StartsWith("fbcache", StringComparison.Ordinal)));
    }
}
