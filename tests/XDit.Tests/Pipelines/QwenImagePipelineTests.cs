using XDit.Engine.Pipelines;
using XDit.Engine.Verify;
using XDit.Kernels.Cpu;

namespace XDit.Tests.Pipelines;

/// <summary>QwenImagePipeline against diffusers' own QwenImagePipeline (tests/fixtures/pipe_qwenimage, true CFG with a
/// negative prompt): the templated prompts' token ids, the prompt embeddings and masks, the final latents and the
/// image; and the guidance arithmetic on its own.</summary>
public class QwenImagePipelineTests(ITestOutputHelper output)
{
    [Fact]
    public void WholePipelineMatchesDiffusers()
    {
        using var ops = new CpuOps();
        var results = FixtureVerifier.Verify(TestPaths.Fixture("pipe_qwenimage"), ops);
        foreach (var name in new[] { "in.input_ids", "in.negative_input_ids", "prompt_embeds", "negative_prompt_embeds", "latents", "images" })
            Assert.Contains(results, r => r.Name == name);
        foreach (var r in results)
        {
            output.WriteLine($"pipe_qwenimage {r.Name}: rel {r.RelativeError:E3}");
            Assert.True(r.Passed, $"pipe_qwenimage {r.Name}: relative error {r.RelativeError:E3} (max abs {r.MaxAbsError:E3}) > {r.Tolerance:E1} {r.Problem}");
        }
    }

    /// <summary>neg + s·(pos − neg) per token, rescaled to ‖pos‖: worked by hand on two tokens of two features.</summary>
    [Fact]
    public void GuidanceRescalesEachTokenToTheConditionalNorm()
    {
        // batch 1, tokens 2, features 2: [negative row; positive row]
        float[] output = [1, 0, 0, 2, /* positive */ 3, 4, 0, 1];
        var noise = new float[4];
        QwenImageGuidance.Combine(output, noise, batch: 1, tokens: 2, features: 2, scale: 2f);
        // token 0: comb = (1,0) + 2·((3,4) − (1,0)) = (5, 8); ‖pos‖ = 5, ‖comb‖ = √89
        // token 1: comb = (0,2) + 2·((0,1) − (0,2)) = (0, 0)... made nonzero below; here (0, 0) gives NaN as diffusers
        Assert.Equal(5f * 5f / MathF.Sqrt(89f), noise[0], 6);
        Assert.Equal(8f * 5f / MathF.Sqrt(89f), noise[1], 6);
        Assert.True(float.IsNaN(noise[2]) && float.IsNaN(noise[3]));

        output = [1, 0, 0, 2, 3, 4, 1, 1];
        QwenImageGuidance.Combine(output, noise, 1, 2, 2, 2f);
        // token 1: comb = (2, 0); ‖pos‖ = √2 → (√2, 0)
        Assert.Equal(MathF.Sqrt(2f), noise[2], 6);
        Assert.Equal(0f, noise[3]);
        Assert.Throws<ArgumentException>(() => QwenImageGuidance.Combine(new float[6], noise, 1, 2, 2, 2f));
    }
}
