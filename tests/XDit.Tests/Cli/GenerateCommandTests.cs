using System.Text.Json;

namespace XDit.Tests.Cli;

/// <summary>`xdit generate` as a user runs it: a picture on success, one clear line and exit 1 on bad input, and
/// nothing half-written.</summary>
[Collection("Console")]
public class GenerateCommandTests
{
    [Fact]
    public void WritesAPngAndAJsonSummary()
    {
        var dir = TestPaths.TempDir();
        var png = Path.Combine(dir, "out.png");
        var (code, stdout, stderr) = CliRunner.Xdit("generate", "-p", "a red circle on a blue background", "--steps", "3", "-o", png, "--json");
        Assert.True(code == 0, stderr);
        var bytes = File.ReadAllBytes(png);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
        using var summary = JsonDocument.Parse(stdout);
        Assert.Equal(3, summary.RootElement.GetProperty("steps").GetInt32());
        Assert.True(summary.RootElement.GetProperty("timings").GetProperty("denoise_ms").GetDouble() > 0);
        Assert.Equal(new[] { "out.png" }, Directory.GetFiles(dir).Select(Path.GetFileName));
    }

    [Theory]
    [InlineData("--guidance-scale abc", "--guidance-scale: 'abc' is not a number")]
    [InlineData("--steps 0", "steps must be at least 1")]
    [InlineData("--steps two", "'two' is not a whole number")]
    [InlineData("--height 30", "multiples of 4")]
    [InlineData("--model /nonexistent/model", "/nonexistent/model")]
    [InlineData("--device tpu", "unknown device 'tpu'")]
    [InlineData("--use-cuda-graph", "--use-cuda-graph needs --device cuda (got cpu)")]
    [InlineData("--use-cuda-graph --device cuda --ulysses-degree 2", "--use-cuda-graph runs on one GPU")]
    [InlineData("--use_cuda_graph --device cuda --use-teacache", "--use-cuda-graph and --use-teacache are alternatives")]
    // the video options, given to an image pipeline (the demo model is a PixArt folder)
    [InlineData("--num-frames 9", "are for video pipelines (CogVideoX, Latte, Wan, LTX-Video)")]
    [InlineData("--fps 8", "which makes images")]
    [InlineData("--use-dynamic-cfg", "--num-frames, --fps and --use-dynamic-cfg are for video pipelines")]
    [InlineData("--num-frames 0", "num_frames must be at least 1")]
    public void BadInputGivesOneLineAndExitCode1(string extra, string expected)
    {
        var dir = TestPaths.TempDir();
        var args = new[] { "generate", "-p", "a red circle on a blue background", "-o", Path.Combine(dir, "x.png") }.Concat(extra.Split(' ')).ToArray();
        var (code, _, stderr) = CliRunner.Xdit(args);
        Assert.Equal(1, code);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("xdit: ", lines[0]);
        Assert.Contains(expected, lines[0]);
        Assert.Empty(Directory.GetFiles(dir));
    }

    /// <summary>A video pipeline folder (the pipe_cogvideox fixture): the video as an animated GIF, with its frame
    /// count in the JSON summary.</summary>
    [Fact]
    public void AVideoPipelineWritesAnAnimatedGif()
    {
        var dir = TestPaths.TempDir();
        var gif = Path.Combine(dir, "out.gif");
        var (code, stdout, stderr) = CliRunner.Xdit("generate", "-m", TestPaths.Fixture("pipe_cogvideox"), "-p", "a panda playing a guitar",
            "--num-frames", "9", "--height", "32", "--width", "48", "--steps", "2", "--fps", "4", "-o", gif, "--json");
        Assert.True(code == 0, stderr);
        var bytes = File.ReadAllBytes(gif);
        Assert.Equal("GIF89a"u8.ToArray(), bytes[..6]);
        Assert.Equal((48, 32), (bytes[6] | bytes[7] << 8, bytes[8] | bytes[9] << 8));
        using var summary = JsonDocument.Parse(stdout);
        Assert.Equal(9, summary.RootElement.GetProperty("num_frames").GetInt32());
        Assert.Equal(4, summary.RootElement.GetProperty("fps").GetInt32());
        Assert.Equal(new[] { "out.gif" }, Directory.GetFiles(dir).Select(Path.GetFileName));
    }

    /// <summary>A video on two in-process ranks (CFG parallel): the same GIF as the one-device run.</summary>
    [Fact]
    public void AVideoPipelineRunsOnTwoRanks()
    {
        var dir = TestPaths.TempDir();
        string[] common = ["generate", "-m", TestPaths.Fixture("pipe_cogvideox"), "-p", "a panda", "--steps", "1", "--height", "32", "--width", "32", "--num-frames", "9", "--json"];
        var (code, stdout, stderr) = CliRunner.Xdit([.. common, "-o", Path.Combine(dir, "two.gif"), "--world-size", "2", "--use-cfg-parallel"]);
        Assert.True(code == 0, stderr);
        using var summary = JsonDocument.Parse(stdout);
        Assert.Equal(2, summary.RootElement.GetProperty("world_size").GetInt32());
        (code, _, stderr) = CliRunner.Xdit([.. common, "-o", Path.Combine(dir, "one.gif")]);
        Assert.True(code == 0, stderr);
        Assert.Equal(File.ReadAllBytes(Path.Combine(dir, "one.gif")), File.ReadAllBytes(Path.Combine(dir, "two.gif")));
    }

    [Theory]
    [InlineData("-o {dir}/x.png", "a video is written as .mp4, .gif or a folder of PNG frames")]
    [InlineData("-o {dir}/x.gif --num-images-per-prompt 2", "one video per prompt")]
    [InlineData("-o {dir}/x.gif --world-size 2 --pipefusion-parallel-degree 2", "PipeFusion (--pipefusion-parallel-degree) is not available for video pipelines")]
    [InlineData("-o {dir}/x.gif --world-size 2 --ulysses-degree 2 --use-parallel-vae", "a video pipeline's VAE decodes whole on each rank")]
    [InlineData("-o {dir}/x.gif --use-fast-attn", "DiTFastAttn (--use-fast-attn) calibrates on image pipelines only")]
    public void AVideoPipelineRefusesWhatItCannotDoInOneLine(string extra, string expected)
    {
        var dir = TestPaths.TempDir();
        var args = new[] { "generate", "-m", TestPaths.Fixture("pipe_cogvideox"), "-p", "a panda", "--steps", "1", "--height", "32", "--width", "32", "--num-frames", "5" }
            .Concat(extra.Replace("{dir}", dir).Split(' ')).ToArray();
        var (code, _, stderr) = CliRunner.Xdit(args);
        Assert.Equal(1, code);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Contains(expected, lines[0]);
        Assert.Empty(Directory.GetFiles(dir));
    }

    [Fact]
    public void AnUnwritableOutputFailsBeforeAnyWork()
    {
        var (code, _, stderr) = CliRunner.Xdit("generate", "-p", "a red circle", "-o", "/nonexistent-folder/x.png");
        Assert.Equal(1, code);
        Assert.Contains("/nonexistent-folder", stderr);
    }

    [Fact]
    public void APartialModelFolderNamesTheMissingPart()
    {
        var model = Path.Combine(TestPaths.TempDir(), "demo");
        CopyDirectory(TestPaths.DemoModel, model);
        Directory.Delete(Path.Combine(model, "vae"), recursive: true);
        var (code, _, stderr) = CliRunner.Xdit("generate", "-p", "a red circle", "--model", model, "-o", Path.Combine(model, "x.png"));
        Assert.Equal(1, code);
        Assert.Contains("'vae' folder is missing", stderr);
        Assert.False(File.Exists(Path.Combine(model, "x.png")));
    }

    internal static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
        foreach (var d in Directory.GetDirectories(from)) CopyDirectory(d, Path.Combine(to, Path.GetFileName(d)));
    }
}

[Collection("Console")]
public class ParallelGenerateCommandTests
{
    [Fact]
    public void FourRanksOfCfgTimesUlyssesDrawTheSamePictureAsOne()
    {
        var dir = TestPaths.TempDir();
        string one = Path.Combine(dir, "one.png"), four = Path.Combine(dir, "four.png");
        var common = new[] { "generate", "-p", "a red circle on a blue background", "--steps", "4", "-q" };
        Assert.Equal(0, CliRunner.Xdit(common.Concat(new[] { "-o", one }).ToArray()).Code);
        var (code, _, stderr) = CliRunner.Xdit(common.Concat(new[] { "-o", four, "--world-size", "4", "--ulysses-degree", "2", "--use-cfg-parallel" }).ToArray());
        Assert.True(code == 0, stderr);
        Assert.Equal(File.ReadAllBytes(one), File.ReadAllBytes(four));
    }

    [Fact]
    public void PrintsTheMeshItUsed()
    {
        var (code, stdout, stderr) = CliRunner.Xdit("generate", "-p", "a red circle on a blue background", "--steps", "2",
            "-o", Path.Combine(TestPaths.TempDir(), "x.png"), "--pipefusion-parallel-degree", "2", "--use-cfg-parallel", "--use-parallel-vae");
        Assert.True(code == 0, stderr);
        Assert.Contains("world 4 = dp 1 × cfg 2 × pp 2 × ulysses 1 × ring 1", stdout);
        Assert.Contains("stale K/V buffers per rank", stdout);
    }
}

[Collection("Console")]
public class CudaDeviceOptionTests
{
    [Fact]
    public void WithoutCudaTheDeviceOptionSaysWhatIsMissingInOneLine()
    {
        if (XDit.Runtime.Cuda.CudaLibraries.TryLoad(out _)) Assert.Skip("CUDA is present here; this test is about machines without it");
        var (code, _, stderr) = CliRunner.Xdit("generate", "-p", "a red circle", "--device", "cuda", "-o", Path.Combine(TestPaths.TempDir(), "x.png"));
        Assert.Equal(1, code);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("libcuda.so.1 not found", stderr);
    }
}

[Collection("Console")]
public class LatentsOptionTests
{
    [Fact]
    public void FromTheReferenceLatentsFileTheCliDrawsTheReferenceImages()
    {
        var demo = TestPaths.DemoModel;
        var dir = TestPaths.TempDir();
        var (code, _, stderr) = CliRunner.Xdit("generate", "-p", "a red circle on a blue background", "-p", "a yellow square on a black background",
            "--latents", Path.Combine(demo, "reference.safetensors"), "-o", Path.Combine(dir, "ref.png"), "-q");
        Assert.True(code == 0, stderr);
        using var reference = new XDit.Runtime.SafetensorsFile(Path.Combine(demo, "reference.safetensors"));
        using var images = reference.ReadF32("images");
        var want = images.ToFloatArray();
        for (int i = 0; i < 2; i++)
        {
            var rgb = PngPixels.ReadRgb(Path.Combine(dir, $"ref_{i}.png"), out int w, out int h);
            int plane = w * h;
            double maxAbs = 0;
            for (int p = 0; p < plane; p++)
                for (int c = 0; c < 3; c++)
                    maxAbs = Math.Max(maxAbs, Math.Abs(rgb[p * 3 + c] / 255.0 - want[(i * 3 + c) * plane + p]));
            // 0.02 as the library test, plus half a level of 8-bit rounding.
            Assert.True(maxAbs < 0.02 + 0.5 / 255, $"image {i}: max abs error {maxAbs:G3}");
        }
    }

    [Fact]
    public void LatentsOfTheWrongSizeAreRefused()
    {
        var (code, _, stderr) = CliRunner.Xdit("generate", "-p", "a red circle on a blue background",
            "--latents", Path.Combine(TestPaths.DemoModel, "reference.safetensors"), "-o", Path.Combine(TestPaths.TempDir(), "x.png"));
        Assert.Equal(1, code);
        Assert.Contains("latents hold 512 values, expected 1x4x8x8 = 256", stderr);
    }
}
