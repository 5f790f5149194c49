using System.Buffers.Binary;
using XDit.Engine.Pipelines;

namespace XDit.Tests.Pipelines;

/// <summary>`xdit generate --image` on the tiny Flux Kontext folder, SD3 image-to-image with --strength, and the
/// refusal of an image by a pipeline that takes none.</summary>
[Collection("Console")]
public class FluxKontextGenerateCommandTests
{
    /// <summary>A 24×20 PNG of the test pattern.</summary>
    static string ReferencePng()
    {
        var image = FluxKontextPipelineTests.TestImage();
        int plane = image.Height * image.Width;
        var chw = new float[3 * plane];
        for (int i = 0; i < plane; i++)
            for (int c = 0; c < 3; c++)
                chw[c * plane + i] = image.Rgb[i * 3 + c] / 255f;
        var path = Path.Combine(TestPaths.TempDir(), "ref.png");
        new GeneratedImage(chw, image.Height, image.Width).SavePng(path);
        return path;
    }

    [Fact]
    public void GenerateEditsTheImageAtTheSizeMaxAreaGives()
    {
        var output = Path.Combine(TestPaths.TempDir(), "out.png");
        // 32×16 asked at max_area 32·32 → 44×20 (as diffusers: aspect 2 kept, multiples of 4)
        var (code, _, stderr) = CliRunner.Xdit("generate", "--model", SD3FluxTestFolders.FluxKontext(), "--image", ReferencePng(),
            "--prompt", "make it red", "--steps", "2", "--height", "16", "--width", "32", "--max-area", "1024", "--no-auto-resize",
            "--max-sequence-length", "8", "--output", output, "--quiet");
        Assert.True(code == 0, $"exit {code}: {stderr}");
        var b = File.ReadAllBytes(output);
        Assert.Equal((44, 20), (BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(16)), BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(20))));
    }

    [Fact]
    public void GenerateRunsSD3ImageToImageWithTheStrengthAndRefusesOneOutOfRange()
    {
        var model = SD3FluxTestFolders.SD3();
        var output = Path.Combine(TestPaths.TempDir(), "out.png");
        var (code, _, stderr) = CliRunner.Xdit("generate", "--model", model, "--image", ReferencePng(), "--strength", "0.5",
            "--prompt", "a cat", "--steps", "4", "--height", "16", "--width", "24", "--max-sequence-length", "8", "--output", output, "--quiet");
        Assert.True(code == 0, $"exit {code}: {stderr}");
        var b = File.ReadAllBytes(output);
        Assert.Equal((24, 16), (BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(16)), BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(20))));
        var refused = Path.Combine(TestPaths.TempDir(), "refused.png");
        (code, _, stderr) = CliRunner.Xdit("generate", "--model", model, "--image", ReferencePng(), "--strength", "1.5",
            "--prompt", "a cat", "--steps", "2", "--height", "16", "--width", "16", "--output", refused);
        Assert.NotEqual(0, code);
        Assert.Contains("strength must lie in [0, 1], got 1.5", stderr);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.False(File.Exists(refused));
    }

    [Fact]
    public void APipelineWithoutImageInputRefusesTheImageInOneLine()
    {
        var output = Path.Combine(TestPaths.TempDir(), "out.png");
        // PixArt: SD3, Flux and SDXL take an image now (image-to-image)
        var (code, _, stderr) = CliRunner.Xdit("generate", "--model", TestPaths.DemoModel, "--image", ReferencePng(),
            "--prompt", "a cat", "--steps", "1", "--height", "16", "--width", "16", "--output", output);
        Assert.NotEqual(0, code);
        Assert.Contains("PixArtPipeline takes no input image", stderr);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.False(File.Exists(output));
    }
}
