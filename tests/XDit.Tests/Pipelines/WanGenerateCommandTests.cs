using XDit.Runtime;

namespace XDit.Tests.Pipelines;

/// <summary>`xdit generate --model pipe_wan` with the fixture's call (its prompt as typed, before prompt_clean, and its
/// initial latents [B, 16, F_lat, h, w] from the file) writes, as a folder of PNG frames, the frames diffusers'
/// WanPipeline made.</summary>
[Collection("Console")]
public class WanGenerateCommandTests
{
    [Fact]
    public void GenerateDrawsTheWanFixtureFrames()
    {
        var dir = TestPaths.Fixture("pipe_wan");
        var io = Path.Combine(dir, "io.safetensors");
        var output = Path.Combine(TestPaths.TempDir(), "frames");
        var (code, stdout, stderr) = CliRunner.Xdit("generate", "--model", dir, "-p", "  A red cat&amp;#32;sits\ton  the blue sky\n",
            "--negative-prompt", "high quality, detailed video frame", "--steps", "3", "--guidance-scale", "5", "--height", "32", "--width", "32",
            "--num-frames", "9", "--max-sequence-length", "32", "--latents", io, "-o", output, "--quiet");
        Assert.True(code == 0, stderr + stdout);

        using var src = new SafetensorsFile(io);
        using var frames = src.ReadF32("out.frames");
        var want = frames.ToFloatArray();
        int plane = 32 * 32;
        for (int f = 0; f < 9; f++)
        {
            var png = PngPixels.ReadRgb(Path.Combine(output, $"frame_{f:D4}.png"), out int w, out int h);
            Assert.Equal((32, 32), (w, h));
            int worst = 0;
            for (int p = 0; p < plane; p++)
                for (int c = 0; c < 3; c++)
                    worst = Math.Max(worst, Math.Abs(png[p * 3 + c] - (int)MathF.Round(want[(f * 3 + c) * plane + p] * 255f)));
            Assert.True(worst <= 1, $"pipe_wan frame {f}: a pixel differs from the fixture by {worst} levels");
        }
        Assert.False(File.Exists(Path.Combine(output, "frame_0009.png")));
    }
}
