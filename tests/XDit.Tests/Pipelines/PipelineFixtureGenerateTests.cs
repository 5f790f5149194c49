using XDit.Runtime;

namespace XDit.Tests.Pipelines;

/// <summary>`xdit generate --model` on each whole-pipeline fixture folder, with the fixture's prompts, settings and
/// initial latents, writes the pictures the fixture holds (diffusers' images as 8-bit, rounded as numpy_to_pil).</summary>
[Collection("Console")]
public class PipelineFixtureGenerateTests
{
    [Theory]
    [InlineData("pipe_sd3", "4.5")]
    [InlineData("pipe_flux", "3.5")]
    [InlineData("pipe_pixart_sigma", "4.5")]
    public void GenerateDrawsTheFixturePictures(string name, string guidance)
    {
        var dir = TestPaths.Fixture(name);
        var io = Path.Combine(dir, "io.safetensors");
        var output = Path.Combine(TestPaths.TempDir(), "out.png");
        var (code, stdout, stderr) = CliRunner.Xdit("generate", "--model", dir, "-p", "a red fox in the snow", "-p", "two cats, one black and one white",
            "--steps", "3", "--guidance-scale", guidance, "--height", "64", "--width", "64", "--max-sequence-length", "16",
            "--latents", io, "-o", output, "--quiet");
        Assert.True(code == 0, stderr + stdout);

        using var src = new SafetensorsFile(io);
        using var images = src.ReadF32("out.images");
        var want = images.ToFloatArray();
        int plane = 64 * 64;
        for (int i = 0; i < 2; i++)
        {
            var png = PngPixels.ReadRgb(Path.Combine(Path.GetDirectoryName(output)!, $"out_{i}.png"), out int w, out int h);
            Assert.Equal((64, 64), (w, h));
            int worst = 0;
            for (int p = 0; p < plane; p++)
                for (int c = 0; c < 3; c++)
                {
                    int reference = (int)MathF.Round(want[(i * 3 + c) * plane + p] * 255f);
                    worst = Math.Max(worst, Math.Abs(png[p * 3 + c] - reference));
                }
            // the images agree to ~1e-5 in [0, 1]: a pixel may round to the next level, no more
            Assert.True(worst <= 1, $"{name} image {i}: a pixel differs from the fixture by {worst} levels");
        }
    }

    /// <summary>A video fixture the same way: pipe_latte's call, its 5-D initial latents [B, C, F, h, w] from the
    /// file, written as a folder of PNG frames that hold the fixture's frames.</summary>
    [Fact]
    public void GenerateDrawsTheLatteFixtureFrames()
    {
        var dir = TestPaths.Fixture("pipe_latte");
        var io = Path.Combine(dir, "io.safetensors");
        var output = Path.Combine(TestPaths.TempDir(), "frames");
        var (code, stdout, stderr) = CliRunner.Xdit("generate", "--model", dir, "-p", "a panda playing a guitar by a lake", "--negative-prompt", "blurry",
            "--steps", "3", "--guidance-scale", "5", "--height", "32", "--width", "32", "--num-frames", "5", "--latents", io, "-o", output, "--quiet");
        Assert.True(code == 0, stderr + stdout);

        using var src = new SafetensorsFile(io);
        using var frames = src.ReadF32("out.frames");
        var want = frames.ToFloatArray();
        int plane = 32 * 32;
        for (int f = 0; f < 5; f++)
        {
            var png = PngPixels.ReadRgb(Path.Combine(output, $"frame_{f:D4}.png"), out int w, out int h);
            Assert.Equal((32, 32), (w, h));
            int worst = 0;
            for (int p = 0; p < plane; p++)
                for (int c = 0; c < 3; c++)
                    worst = Math.Max(worst, Math.Abs(png[p * 3 + c] - (int)MathF.Round(want[(f * 3 + c) * plane + p] * 255f)));
            Assert.True(worst <= 1, $"pipe_latte frame {f}: a pixel differs from the fixture by {worst} levels");
        }
    }
}
