namespace XDit.Tests.Caches;

/// <summary>`xdit generate --use-adaptive-cache --cache-budget B [--cache-seed report.json]` on the demo model.</summary>
[Collection("Console")]
public class AdaptiveCacheFlagsTests
{
    [Fact]
    public void TheAdaptiveCacheRunsUnderItsBudgetAndItsFlagsAreChecked()
    {
        var dir = TestPaths.TempDir();
        var png = Path.Combine(dir, "a.png");
        var (code, stdout, stderr) = CliRunner.Xdit("generate", "-p", "a red circle on a blue background", "--steps", "6", "--use-adaptive-cache", "--cache-budget", "0.5", "-o", png);
        Assert.True(code == 0, stderr);
        var line = stdout.Split('\n').Single(l => l.StartsWith("adaptive (budget 0.5): ", StringComparison.Ordinal));
        var computed = int.Parse(line.Split(' ')[3], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Contains(" of 48 block evaluations", line);
        Assert.InRange(computed, 8 + 5, 24);
        Assert.True(File.Exists(png));

        (code, _, stderr) = CliRunner.Xdit("generate", "-p", "x", "--cache-budget", "0.5", "-o", png);
        Assert.Equal(1, code);
        Assert.Contains("--cache-budget needs --use-adaptive-cache", stderr);
        (code, _, stderr) = CliRunner.Xdit("generate", "-p", "x", "--use-adaptive-cache", "--use-fbcache", "-o", png);
        Assert.Equal(1, code);
        Assert.Contains("alternatives", stderr);
        (code, _, stderr) = CliRunner.Xdit("generate", "-p", "x", "--steps", "6", "--use-adaptive-cache", "--cache-budget", "0.1", "-o", png);
        Assert.Equal(1, code);
        Assert.Contains("for 8 blocks and 6 steps", stderr);
    }
}
