using XDit.Engine.Verify;
using XDit.Kernels.Cpu;

namespace XDit.Tests.Pipelines;

/// <summary>
/// The whole-pipeline fixtures (tests/fixtures/pipe_*: diffusers pipeline folders with the real tokenizer files and
/// tiny fp16 weights) against diffusers end to end: token ids exactly, prompt embeddings, final latents and the
/// images (CogVideoX, Latte: the video's frames) within 1e-4, each compared in the order the pipeline makes them.
/// </summary>
public class PipelineFixtureTests
{
    [Theory]
    [InlineData("pipe_sd3")]
    [InlineData("pipe_flux")]
    [InlineData("pipe_flux_kontext")]
    [InlineData("pipe_sd3_img2img")]
    [InlineData("pipe_flux_img2img")]
    [InlineData("pipe_pixart_sigma")]
    [InlineData("pipe_cogvideox")]
    [InlineData("pipe_latte")]
    [InlineData("pipe_wan")]
    public void WholePipelineMatchesDiffusers(string name)
    {
        using var ops = new CpuOps();
        var results = FixtureVerifier.Verify(TestPaths.Fixture(name), ops);
        Assert.Contains(results, r => r.Name is "images" or "frames"); // pipe_cogvideox and pipe_latte make videos
        Assert.Contains(results, r => r.Name.StartsWith("in.", StringComparison.Ordinal) && r.Name.Contains("input_ids"));
        foreach (var r in results)
            Assert.True(r.Passed, $"{name} {r.Name}: relative error {r.RelativeError:E3} (max abs {r.MaxAbsError:E3}) > {r.Tolerance:E1} {r.Problem}");
    }
}
