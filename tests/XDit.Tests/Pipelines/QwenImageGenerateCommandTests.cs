using System.Text.Json;

namespace XDit.Tests.Pipelines;

/// <summary>`xdit generate` on a Qwen-Image folder (pipe_qwenimage): a PNG of the asked size, true CFG when a negative
/// prompt is given, and a warning for the guidance scale this model does not use.</summary>
[Collection("Console")]
public class QwenImageGenerateCommandTests
{
    [Fact]
    public void WritesAPngWithTrueCfgAndWarnsAboutAnUnusedGuidanceScale()
    {
        var dir = TestPaths.TempDir();
        var png = Path.Combine(dir, "q.png");
        var (code, stdout, stderr) = CliRunner.Xdit("generate", "-m", TestPaths.Fixture("pipe_qwenimage"), "-p", "a cat",
            "--negative-prompt", "blurry", "--guidance-scale", "5", "--steps", "2", "--height", "32", "--width", "48", "-o", png, "--json");
        Assert.True(code == 0, stderr);
        Assert.Contains("guidance_scale 5 is ignored", stderr);
        var bytes = File.ReadAllBytes(png);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
        // the IHDR chunk: width then height, big-endian
        Assert.Equal((48, 32), (System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)), System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20))));
        using var summary = JsonDocument.Parse(stdout);
        Assert.Equal(2, summary.RootElement.GetProperty("steps").GetInt32());
    }
}
