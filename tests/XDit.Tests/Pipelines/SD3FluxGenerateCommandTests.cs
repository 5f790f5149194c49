using System.Buffers.Binary;
using System.Text.Json;

namespace XDit.Tests.Pipelines;

/// <summary>`xdit generate --model` on the synthetic SD3 and Flux folders, through PipelineLoader.</summary>
[Collection("Console")]
public class SD3FluxGenerateCommandTests
{
    /// <summary>Width and height from a PNG's IHDR chunk.</summary>
    static (int Width, int Height) PngSize(string path)
    {
        var b = File.ReadAllBytes(path);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, b[..4]);
        return (BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(16)), BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(20)));
    }

    [Theory]
    [InlineData("sd3")]
    [InlineData("flux")]
    public void GenerateWritesAPngOfTheAskedSize(string kind)
    {
        var model = kind == "sd3" ? SD3FluxTestFolders.SD3() : SD3FluxTestFolders.Flux();
        var output = Path.Combine(TestPaths.TempDir(), "out.png");
        var (code, stdout, stderr) = CliRunner.Xdit("generate", "--model", model, "--prompt", "a red cat", "--steps", "2",
            "--height", "12", "--width", "20", "--max-sequence-length", "8", "--output", output, "--json");
        Assert.True(code == 0, $"exit {code}: {stderr}");
        Assert.Equal((20, 12), PngSize(output));
        using var summary = JsonDocument.Parse(stdout);
        Assert.Equal(2, summary.RootElement.GetProperty("steps").GetInt32());
        Assert.Equal(output, summary.RootElement.GetProperty("images")[0].GetString());
    }

    [Fact]
    public void ABadSizeFailsWithTheMultipleNamed()
    {
        var output = Path.Combine(TestPaths.TempDir(), "out.png");
        var (code, _, stderr) = CliRunner.Xdit("generate", "--model", SD3FluxTestFolders.Flux(), "--prompt", "a cat", "--height", "14", "--width", "16", "--output", output);
        Assert.NotEqual(0, code);
        Assert.Contains("multiples of 4", stderr);
        Assert.False(File.Exists(output));
    }
}
