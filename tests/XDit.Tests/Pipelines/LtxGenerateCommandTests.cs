using XDit.Runtime;

namespace XDit.Tests.Pipelines;

/// <summary>`xdit generate --model pipe_ltx` with the fixture's call (its frame rate, decode timestep and noise scale
/// as flags, its initial latents [B, 8, F_lat, h, w] from the file) writes, as a folder of PNG frames, the frames
/// diffusers' LTXPipeline made.</summary>
[Collection("Console")]
public class LtxGenerateCommandTests
{
    [Fact]
    public void GenerateDrawsTheLtxFixtureFrames()
    {
        var dir = TestPaths.Fixture("pipe_ltx");
        var io = Path.Combine(dir, "io.safetensors");
        var output = Path.Combine(TestPaths.TempDir(), "frames");
        var (code, stdout, stderr) = CliRunner.Xdit("generate", "--model", dir, "-p", "a panda playing a guitar by a lake",
            "--negative-prompt", "worst quality, blurry", "--steps", "3", "--guidance-scale", "3", "--height", "32", "--width", "32",
            "--num-frames", "5", "--max-sequence-length", "16", "--frame-rate", "24", "--decode-timestep", "0.05",
            "--decode-noise-scale", "0", "--latents", io, "-o", output, "--quiet");
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
            Assert.True(worst <= 1, $"pipe_ltx frame {f}: a pixel differs from the fixture by {worst} levels");
        }
        Assert.False(File.Exists(Path.Combine(output, "frame_0005.png")));
    }

    [Fact]
    public void ImagePipelinesRefuseTheLtxFlags()
    {
        var (code, stdout, stderr) = CliRunner.Xdit("generate", "--model", TestPaths.Fixture("pipe_pixart_sigma"), "-p", "a cat",
            "--steps", "1", "--height", "32", "--width", "32", "--decode-timestep", "0.05", "-o", Path.Combine(TestPaths.TempDir(), "x.png"), "--quiet");
        Assert.NotEqual(0, code);
        Assert.Contains("decode_timestep", stderr + stdout);
    }
}
