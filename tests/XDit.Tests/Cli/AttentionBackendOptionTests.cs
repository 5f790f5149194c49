using XDit.Engine.Backends;
using XDit.Kernels.Cuda;

namespace XDit.Tests.Cli;

/// <summary>`--attention-backend` (and xDiT's `--attention_backend`): its values, its refusals, and `xdit info`
/// listing the backends. No device: what needs one is in Cuda/CudnnAttentionTests.</summary>
public class AttentionBackendOptionTests
{
    [Theory]
    [InlineData(null, AttentionBackend.Auto)]
    [InlineData("auto", AttentionBackend.Auto)]
    [InlineData("cuDNN", AttentionBackend.Cudnn)]
    [InlineData(" native ", AttentionBackend.Native)]
    public void NamesParse(string? name, AttentionBackend want) => Assert.Equal(want, AttentionBackends.Parse(name));

    [Fact]
    public void AnUnknownNameIsOneLineWithTheChoices()
    {
        var e = Assert.Throws<ArgumentException>(() => AttentionBackends.Parse("flash"));
        Assert.Equal("--attention-backend: unknown attention backend 'flash' (expected auto, cudnn or native)", e.Message);
        var (code, _, err) = CliRunner.Xdit("generate", "-p", "a cat", "--attention_backend", "flash");
        Assert.NotEqual(0, code);
        Assert.Contains("unknown attention backend 'flash'", err);
    }

    [Fact]
    public void ForcingCudnnOnTheCpuIsRefused()
    {
        var e = Assert.Throws<NotSupportedException>(() => BackendFactory.Create("cpu", attention: AttentionBackend.Cudnn));
        Assert.Contains("--attention-backend cudnn needs --device cuda", e.Message);
        using var native = BackendFactory.Create("cpu", attention: AttentionBackend.Native);   // the CPU's one attention is native
        Assert.Equal("cpu", native.Name);
    }

    [Fact]
    public void InfoListsTheAttentionBackends()
    {
        var (code, stdout, _) = CliRunner.Xdit("info");
        Assert.Equal(0, code);
        var line = stdout.Split('\n').Single(l => l.StartsWith("attention backends (--attention-backend): auto", StringComparison.Ordinal));
        Assert.Contains("native (XDit's kernels", line);
        Assert.Contains("cudnn (", line);   // with whether cuDNN's graph API is here, which differs by machine
    }
}
