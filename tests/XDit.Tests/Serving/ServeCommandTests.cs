namespace XDit.Tests.Serving;

/// <summary>`xdit serve`'s limit flags are checked before the model loads, each refusal one line naming the flag.</summary>
[Collection("Console")]
public class ServeCommandTests
{
    [Theory]
    [InlineData("--max-steps", "0", "--max-steps must be at least 1")]
    [InlineData("--max-pixels", "-5", "--max-pixels must be between 1")]
    [InlineData("--max-pixels", "9999999999", "--max-pixels must be between 1")]
    [InlineData("--max-images", "0", "--max-images must be at least 1")]
    [InlineData("--max-connections", "0", "--max-connections must be at least 1")]
    [InlineData("--request-timeout", "-1", "--request-timeout must be")]
    [InlineData("--output-dir", "/no/such/xdit/folder", "--output-dir: the folder /no/such/xdit/folder does not exist")]
    public void ABadLimitIsOneLineBeforeAnyModelLoads(string flag, string value, string says)
    {
        // a model folder that does not exist: the flag must be refused before the load would fail
        var (code, stdout, stderr) = CliRunner.Xdit("serve", "--model", "/no/such/model", flag, value, "--port", "0");
        Assert.Equal(1, code);
        Assert.Contains(says, stderr);
        Assert.DoesNotContain("loading", stdout);
    }

    [Fact]
    public void AVideoPipelineIsRefusedBeforeItLoads()
    {
        var (code, stdout, stderr) = CliRunner.Xdit("serve", "--model", TestPaths.Fixture("pipe_cogvideox"), "--port", "0");
        Assert.Equal(1, code);
        Assert.Contains("holds a video pipeline (CogVideoXPipeline)", stderr);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.DoesNotContain("loading", stdout);
    }
}
