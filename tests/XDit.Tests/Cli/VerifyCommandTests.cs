using XDit.Runtime;

namespace XDit.Tests.Cli;

[Collection("Console")]
public class VerifyCommandTests
{
    [Fact]
    public void AGoodFixturePassesWithExitCode0()
    {
        var (code, stdout, stderr) = CliRunner.Xdit("verify", TestPaths.Fixture("sched_ddim"));
        Assert.True(code == 0, stderr + stdout);
        Assert.Contains("rel", stdout);
        Assert.Equal("PASS", stdout.Trim().Split('\n')[^1].Trim());
    }

    [Fact]
    public void AFixtureWhoseReferenceIsWrongFailsWithExitCode1()
    {
        // Copy the fixture and perturb one expected output by 1%: the verifier must notice.
        var dir = Path.Combine(TestPaths.TempDir(), "vae4");
        GenerateCommandTests.CopyDirectory(TestPaths.Fixture("vae4"), dir);
        var io = Path.Combine(dir, "io.safetensors");
        var tensors = new Dictionary<string, Tensor>();
        using (var src = new SafetensorsFile(io))
            foreach (var name in src.Names) tensors[name] = src.Read(name);
        var sample = tensors["out.sample"].Span<float>();
        for (int i = 0; i < sample.Length; i++) sample[i] *= 1.01f;
        SafetensorsWriter.Write(io, tensors);

        var (code, stdout, _) = CliRunner.Xdit("verify", dir);
        Assert.Equal(1, code);
        Assert.Contains("too large", stdout);
        Assert.Equal("FAIL", stdout.Trim().Split('\n')[^1].Trim());
    }
}
