using System.Text.RegularExpressions;

namespace XDit.Tests.FastAttn;

/// <summary>`xdit generate --use-fast-attn` on the demo model: calibrates, saves xDiT's plan file, follows it
/// with --use-cache, and refuses what it cannot be combined with.</summary>
[Collection("Console")]
public class FastAttnCliTests
{
    [Fact]
    public void CalibratesSavesThePlanAndFollowsItWithUseCache()
    {
        var dir = TestPaths.TempDir();
        var cache = Path.Combine(dir, "plans");
        string[] Args(string png, params string[] more) =>
            ["generate", "-p", "a red circle on a blue background", "--steps", "6", "--use_fast_attn", "--window_size", "8", "--threshold", "0.3",
             "--n-calib", "2", "--fast-attn-cache-dir", cache, "-o", Path.Combine(dir, png), .. more];
        var (code, stdout, stderr) = CliRunner.Xdit(Args("a.png"));
        Assert.True(code == 0, stderr);
        var plan = Path.Combine(cache, "demo_6_2_0.3_8.json");
        Assert.True(File.Exists(plan), stdout);
        Assert.Contains($"calibrated and saved to {plan}", stdout);
        Assert.Matches(new Regex(@"DiTFastAttn \(window 8\): 48 layer-steps .*attention work \d+% of full"), stdout);

        (code, stdout, stderr) = CliRunner.Xdit(Args("b.png", "--use-cache"));
        Assert.True(code == 0, stderr);
        Assert.Contains($"plan read from {plan}", stdout);
        Assert.DoesNotContain("calibrating", stdout);
        Assert.Equal(File.ReadAllBytes(Path.Combine(dir, "a.png")), File.ReadAllBytes(Path.Combine(dir, "b.png")));

        // a plan for other steps is refused, naming the file
        File.Copy(plan, Path.Combine(cache, "demo_4_2_0.3_8.json"));
        var args = Args("c.png", "--use-cache");
        args[Array.IndexOf(args, "6")] = "4";
        (code, _, stderr) = CliRunner.Xdit(args);
        Assert.Equal(1, code);
        Assert.Contains("demo_4_2_0.3_8.json: the DiTFastAttn plan is for 6 steps, this run has 4", stderr);
    }

    [Theory]
    [InlineData("--ulysses-degree", "2", "leave out the parallel degrees")]
    [InlineData("--use-fbcache", null, "are alternatives")]
    [InlineData("--use-cuda-graph", null, "cannot be combined")]
    [InlineData("--coco-path", "/nonexistent/captions.json", "/nonexistent/captions.json: the calibration captions file")]
    [InlineData("--window-size", "-1", "--window-size must be ≥ 0")]
    public void BadCombinationsAreRefusedBeforeAnyWork(string option, string? value, string expected)
    {
        var args = new List<string> { "generate", "-p", "x", "--use-fast-attn", option };
        if (value is not null) args.Add(value);
        args.AddRange(["-o", Path.Combine(TestPaths.TempDir(), "x.png")]);
        var (code, _, stderr) = CliRunner.Xdit(args.ToArray());
        Assert.Equal(1, code);
        Assert.Contains(expected, stderr);
    }

    [Fact]
    public void ItsOptionsNeedTheFlag()
    {
        var (code, _, stderr) = CliRunner.Xdit("generate", "-p", "x", "--window-size", "8", "-o", Path.Combine(TestPaths.TempDir(), "x.png"));
        Assert.Equal(1, code);
        Assert.Contains("--window-size needs --use-fast-attn", stderr);
    }
}
