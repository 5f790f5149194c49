using System.Text.Json;

namespace XDit.Tests.Analysis;

/// <summary>`xdit analyze` on the demo model (PixArt-α, 8 blocks, self- and cross-attention per block).</summary>
[Collection("Console")]
public class AnalyzeCommandTests
{
    [Fact]
    public void FourStepsGiveThreeFinitePositiveChangesPerBlockAndLayer()
    {
        var dir = TestPaths.TempDir();
        var report = Path.Combine(dir, "report.json");
        var (code, stdout, stderr) = CliRunner.Xdit("analyze", "--prompt", "a red circle on a blue background", "--steps", "4", "--output", report);
        Assert.True(code == 0, stderr);
        Assert.Contains("block 7", stdout);
        Assert.Contains($"wrote {report}", stdout);

        using var json = JsonDocument.Parse(File.ReadAllText(report));
        var root = json.RootElement;
        Assert.Equal(4, root.GetProperty("steps").GetInt32());
        Assert.Equal(3, root.GetProperty("transitions").GetInt32());
        var blocks = root.GetProperty("blocks").EnumerateArray().ToList();
        Assert.Equal(8, blocks.Count);
        var layers = root.GetProperty("attention").GetProperty("layers").EnumerateArray().ToList();
        Assert.Equal(16, layers.Count); // attn1 and attn2 of each block
        Assert.Equal("transformer_blocks.0.attn1", layers[0].GetProperty("name").GetString());
        foreach (var s in blocks.Concat(layers))
        {
            var name = s.GetProperty("name").GetString();
            foreach (var key in new[] { "relative_l1", "mean_abs_diff" })
            {
                var values = s.GetProperty(key).EnumerateArray().Select(v => v.GetDouble()).ToList();
                Assert.Equal(3, values.Count);
                // The latents change every step, so nothing repeats: every change is finite and strictly positive.
                Assert.All(values, v => Assert.True(double.IsFinite(v) && v > 0, $"{name} {key}: {v}"));
            }
            var rel = s.GetProperty("relative_l1").EnumerateArray().Select(v => v.GetDouble()).ToList();
            Assert.Equal(rel.Average(), s.GetProperty("mean").GetDouble(), 12);
            Assert.Equal(rel.Max(), s.GetProperty("max").GetDouble(), 12);
        }
    }

    [Fact]
    public void OneStepIsRefusedWithAClearMessage()
    {
        var report = Path.Combine(TestPaths.TempDir(), "r.json");
        var (code, _, stderr) = CliRunner.Xdit("analyze", "--prompt", "x", "--steps", "1", "--output", report);
        Assert.Equal(1, code);
        Assert.Contains("at least 2", stderr);
        Assert.False(File.Exists(report));
    }
}
