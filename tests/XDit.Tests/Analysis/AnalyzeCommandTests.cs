using System.Text.Json;

namespace XDit.Tests.Analysis;

/// <summary>`xdit analyze` on the demo model (PixArt-α, 8 blocks, self- and cross-attention per block).</summary>
[Collection("Console")]
public class AnalyzeCommandTests
{
    static JsonElement Table2(JsonDocument report) => report.RootElement.GetProperty("table2");

    [Fact]
    public void IdenticalPromptsGiveZeroVariationAndDifferentOnesDoNot()
    {
        var dir = TestPaths.TempDir();
        var same = Path.Combine(dir, "same.json");
        var (code, stdout, stderr) = CliRunner.Xdit("analyze", "-p", "a red circle on a blue background", "-p", "a red circle on a blue background",
            "-p", "a red circle on a blue background", "--steps", "3", "--output", same);
        Assert.True(code == 0, stderr);
        Assert.Contains("Table 2", stdout);
        using (var json = JsonDocument.Parse(File.ReadAllText(same)))
        {
            var rows = Table2(json).EnumerateArray().ToList();
            Assert.Equal(4 * 4, rows.Count); // targets k, v, a, block × the four metrics
            Assert.All(rows, r => Assert.Equal(0.0, r.GetProperty("mean_cv").GetDouble()));
            Assert.All(rows, r => Assert.Equal(3, r.GetProperty("prompts").GetInt32()));
        }

        var different = Path.Combine(dir, "different.json");
        (code, _, stderr) = CliRunner.Xdit("analyze", "-p", "a red circle on a blue background", "-p", "a yellow square on a black background",
            "--steps", "3", "--output", different, "--metrics", "mean_abs");
        Assert.True(code == 0, stderr);
        using (var json = JsonDocument.Parse(File.ReadAllText(different)))
            Assert.All(Table2(json).EnumerateArray(), r => Assert.True(r.GetProperty("mean_cv").GetDouble() > 1e-3, r.ToString()));
    }

    [Fact]
    public void OutDirHoldsTheReportTheLongCsvAndThePlotsOfEachStepCount()
    {
        var dir = Path.Combine(TestPaths.TempDir(), "out");
        var prompts = Path.Combine(TestPaths.TempDir(), "prompts.txt");
        File.WriteAllLines(prompts, ["a red circle on a blue background", "", "a green ring on a white background", "a cyan cross on a gray background"]);
        var (code, stdout, stderr) = CliRunner.Xdit("analyze", "--prompts-file", prompts, "--num-prompts", "2", "--steps", "3,4", "--out-dir", dir);
        Assert.True(code == 0, stderr);

        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "report.json")));
        var root = json.RootElement;
        Assert.Equal(2, root.GetProperty("schema_version").GetInt32());
        Assert.Equal([3, 4], root.GetProperty("step_counts").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(2, root.GetProperty("prompts").GetArrayLength());
        var results = root.GetProperty("results").EnumerateArray().ToList();
        var series4 = results[1].GetProperty("series").EnumerateArray().ToList();
        Assert.Equal(8 * 3 + 8, series4.Count); // k, v, a of the 8 self-attention layers, and the 8 blocks
        var first = series4[0];
        Assert.Equal("k", first.GetProperty("target").GetString());
        Assert.Equal("transformer_blocks.0.attn1", first.GetProperty("layer").GetString());
        var meanAbs = first.GetProperty("metrics").GetProperty("mean_abs");
        Assert.Equal(3, meanAbs.GetProperty("mean").GetArrayLength());
        var argmax = meanAbs.GetProperty("argmax");
        Assert.Equal(2 - argmax.GetProperty("transition").GetInt32(), argmax.GetProperty("countdown").GetInt32());

        var csv = File.ReadAllLines(Path.Combine(dir, "raw.csv"));
        Assert.StartsWith("steps,prompt,target,layer,half,kind,transition,step_from,step_to,countdown,fraction,mean_abs,var_abs,relative_l1,cosine", csv[0]);
        Assert.Equal(2 * 32 * (2 + 3), csv.Length - 1); // prompts × series × transitions, over both step counts
        // the long form agrees with the report's mean over the two prompts
        var rows = csv.Skip(1).Select(l => l.Split(',')).Where(c => c[0] == "4" && c[2] == "k" && c[3] == "transformer_blocks.0.attn1" && c[6] == "1").ToList();
        Assert.Equal(2, rows.Count);
        Assert.Equal(rows.Average(c => double.Parse(c[11], System.Globalization.CultureInfo.InvariantCulture)), meanAbs.GetProperty("mean")[1].GetDouble(), 12);

        foreach (var png in new[] { "grid_3.png", "grid_4.png", "heatmap_a_4.png", "heatmap_cv_block_3.png" })
            Assert.True(new FileInfo(Path.Combine(dir, png)).Length > 1000, png);
        Assert.Contains($"wrote {Path.Combine(dir, "raw.csv")}", stdout);
    }

    [Fact]
    public void SimulateReplaysThePoliciesAndMeasureRunsThem()
    {
        var dir = Path.Combine(TestPaths.TempDir(), "sim");
        var (code, stdout, stderr) = CliRunner.Xdit("analyze", "-p", "a red circle on a blue background", "-p", "a white cross on a red background",
            "--steps", "4", "--out-dir", dir, "--no-plots", "--simulate", "fbcache:5,teacache:0.5,adaptive:1,seeded:0.6", "--measure");
        Assert.True(code == 0, stderr);
        var lines = File.ReadAllLines(Path.Combine(dir, "caches.txt"));
        Assert.Equal(2 + 4, lines.Length);
        Assert.Contains("PSNR dB", lines[1]);
        // budget 1 runs every block: nothing saved, the uncached picture exactly
        var all = lines.Single(l => l.StartsWith("adaptive:1 ", StringComparison.Ordinal));
        Assert.Matches(@"^adaptive:1\s+0\.0 %\s+0\s+0\.0 %\s+Infinity\s+Infinity\s+nothing skipped$", all);
        // a loose threshold skips steps: something is saved and the picture moves, but stays finite
        var fb = lines.Single(l => l.StartsWith("fbcache:5 ", StringComparison.Ordinal));
        Assert.Contains("skips step:blocks", fb);
        Assert.DoesNotContain("Infinity", fb);
        Assert.Contains("seeded:0.6", stdout);
        // the residual series the replay needs were recorded on the way
        Assert.Contains("\"residual\"", File.ReadAllText(Path.Combine(dir, "report.json")));
    }

    [Fact]
    public void AnotherSchedulerChangesTheSeriesAndLeavesTheModelFolderAlone()
    {
        var dir = TestPaths.TempDir();
        var files = Directory.GetFileSystemEntries(TestPaths.DemoModel, "*", SearchOption.AllDirectories).Order().ToList();
        double FirstK(string path)
        {
            using var json = JsonDocument.Parse(File.ReadAllText(path));
            return json.RootElement.GetProperty("results")[0].GetProperty("series")[0].GetProperty("metrics").GetProperty("mean_abs").GetProperty("mean")[0].GetDouble();
        }
        var own = Path.Combine(dir, "own.json");
        var ddim = Path.Combine(dir, "ddim.json");
        Assert.Equal(0, CliRunner.Xdit("analyze", "-p", "a red circle on a blue background", "--steps", "3", "--targets", "k", "-o", own).Code);
        var (code, _, stderr) = CliRunner.Xdit("analyze", "-p", "a red circle on a blue background", "--steps", "3", "--targets", "k", "--scheduler", "DDIMScheduler", "-o", ddim);
        Assert.True(code == 0, stderr);
        Assert.Contains("\"scheduler\": \"DDIMScheduler\"", File.ReadAllText(ddim));
        Assert.NotEqual(FirstK(own), FirstK(ddim));
        Assert.Equal(files, Directory.GetFileSystemEntries(TestPaths.DemoModel, "*", SearchOption.AllDirectories).Order().ToList());
    }

    [Fact]
    public void AReportWithResidualsSeedsTheAdaptiveCache()
    {
        var report = Path.Combine(TestPaths.TempDir(), "seed.json");
        var (code, _, stderr) = CliRunner.Xdit("analyze", "-p", "a red circle on a blue background", "--steps", "4", "--targets", "residual", "-o", report);
        Assert.True(code == 0, stderr);
        var seed = XDit.Engine.Caches.AdaptiveCacheSeed.FromReport(report, 4);
        Assert.Equal(4, seed.Profile.Length);
        Assert.Equal(0, seed.Profile[0]);
        Assert.All(seed.Profile.Skip(1), p => Assert.True(p > 0));
        Assert.Equal(8, seed.Sensitivity.Length);
        Assert.Equal(1, seed.Sensitivity[0], 12);
        Assert.Contains("no results at 5 steps", Assert.Throws<InvalidDataException>(() => XDit.Engine.Caches.AdaptiveCacheSeed.FromReport(report, 5)).Message);
        (code, var stdout, stderr) = CliRunner.Xdit("generate", "-p", "a red circle on a blue background", "--steps", "4", "--use-adaptive-cache", "--cache-budget", "0.6",
            "--cache-seed", report, "-o", Path.Combine(TestPaths.TempDir(), "s.png"));
        Assert.True(code == 0, stderr);
        Assert.Contains("adaptive (budget 0.6)", stdout);
    }

    [Fact]
    public void GivenLatentsStandInForTheSeedOfEveryPrompt()
    {
        var dir = TestPaths.TempDir();
        var latents = Path.Combine(dir, "latents.safetensors");
        var random = new Random(3);
        var values = Enumerable.Range(0, 4 * 8 * 8).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        using (var t = XDit.Runtime.Tensor.FromArray(values, 1, 4, 8, 8))
            XDit.Runtime.SafetensorsWriter.Write(latents, [new KeyValuePair<string, XDit.Runtime.Tensor>("initial_latents", t)]);
        string Csv(params string[] extra)
        {
            var outDir = Path.Combine(dir, Guid.NewGuid().ToString("N"));
            var (code, _, stderr) = CliRunner.Xdit(["analyze", "-p", "a red circle on a blue background", "--steps", "3", "--targets", "k", "--out-dir", outDir, "--no-plots", .. extra]);
            Assert.True(code == 0, stderr);
            return File.ReadAllText(Path.Combine(outDir, "raw.csv"));
        }
        var seed1 = Csv("--seed", "1", "--latents", latents);
        var seed2 = Csv("--seed", "2", "--latents", latents);
        var seeded = Csv("--seed", "1");
        Assert.Equal(seed1, seed2);      // the latents, not the seed, start every generation
        Assert.NotEqual(seed1, seeded);
    }

    [Fact]
    public void OneStepAndUnknownNamesAreRefusedWithAClearMessage()
    {
        var report = Path.Combine(TestPaths.TempDir(), "r.json");
        var (code, _, stderr) = CliRunner.Xdit("analyze", "--prompt", "x", "--steps", "1", "--output", report);
        Assert.Equal(1, code);
        Assert.Contains("at least 2", stderr);
        Assert.False(File.Exists(report));
        (code, _, stderr) = CliRunner.Xdit("analyze", "--prompt", "x", "--targets", "k,q", "--output", report);
        Assert.Equal(1, code);
        Assert.Contains("--targets: unknown target 'q'", stderr);
        (code, _, stderr) = CliRunner.Xdit("analyze", "--output", report);
        Assert.Equal(1, code);
        Assert.Contains("--prompts-file", stderr);
    }
}
