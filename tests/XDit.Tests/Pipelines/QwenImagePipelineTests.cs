using XDit.Engine.Execution;
using XDit.Engine.Pipelines;
using XDit.Engine.Verify;
using XDit.Kernels.Cpu;
using XDit.Runtime;

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

    static GenerationRequest FixtureRequest() => new()
    {
        Prompts = new[] { "a cat sitting on a red sofa" }, NegativePrompt = "blurry", TrueCfgScale = 4f,
        NumInferenceSteps = 3, Height = 32, Width = 32, Seed = 7,
    };

    /// <summary>tests/fixtures/pipe_qwenimage/two_prompts.safetensors: diffusers on the same folder for two prompts of
    /// different lengths (the shorter padded, its padded keys masked in the transformer), with true CFG and without a
    /// negative prompt (the plain prediction).</summary>
    [Fact]
    public void TwoPromptsMatchDiffusersWithAndWithoutTrueCfg()
    {
        var dir = TestPaths.Fixture("pipe_qwenimage");
        using var reference = new SafetensorsFile(Path.Combine(dir, "two_prompts.safetensors"));
        using var latents = reference.ReadF32("in.latents_unpacked");
        using var pipeline = Assert.IsType<QwenImagePipeline>(PipelineLoader.Load(dir));
        var request = FixtureRequest() with
        {
            Prompts = new[] { "a red fox running through fresh snow under a pale sky", "waves" }, Latents = latents.ToFloatArray(),
        };
        foreach (var (cfg, names) in new[] { (true, new[] { "prompt_embeds", "prompt_embeds_mask", "negative_prompt_embeds", "latents" }), (false, new[] { "latents" }) })
        {
            var trace = new PipelineTrace();
            pipeline.Trace = trace;
            var result = pipeline.Generate(cfg ? request : request with { NegativePrompt = null });
            Assert.Equal(2, result.Images.Count);
            Assert.Equal(cfg, trace.Find("negative_prompt_embeds") is not null);
            foreach (var name in names)
            {
                using var expected = reference.ReadF32("out." + (cfg || name != "latents" ? name : "latents_plain"));
                var got = trace.Find(name)!;
                Assert.Equal(expected.Dims, got.Shape);
                double err = Numerics.RelativeError(got.Values, expected.ToFloatArray());
                output.WriteLine($"pipe_qwenimage two prompts{(cfg ? "" : " without CFG")} {name} {Shape.Format(got.Shape)}: rel {err:E3}");
                Assert.True(err < 1e-4, $"two prompts{(cfg ? "" : " without CFG")} {name}: relative error {err:G3} against diffusers");
            }
        }
    }

    /// <summary>What diffusers refuses or cannot run is refused before any work, with the reason.</summary>
    [Fact]
    public void RefusesWhatItCannotRunAndWarnsAboutAnUnusedTrueCfg()
    {
        using var pipeline = Assert.IsType<QwenImagePipeline>(PipelineLoader.Load(TestPaths.Fixture("pipe_qwenimage")));
        Assert.Equal((512, 8, 50), (pipeline.DefaultSize, pipeline.SizeMultiple, pipeline.DefaultSteps)); // 128 × the VAE's factor 4
        var request = FixtureRequest();
        Assert.Contains("above 1024", Assert.Throws<ArgumentException>(() => pipeline.Generate(request with { MaxSequenceLength = 1025 })).Message);
        Assert.Contains("at least 2 steps", Assert.Throws<ArgumentException>(() => pipeline.Generate(request with { NumInferenceSteps = 1 })).Message);
        Assert.Contains("multiples of 8", Assert.Throws<ArgumentException>(() => pipeline.Generate(request with { Height = 36 })).Message);

        var warnings = new List<string>();
        pipeline.Warning += (_, w) => warnings.Add(w);
        var result = pipeline.Generate(request with { NegativePrompt = null, NumInferenceSteps = 2 });
        Assert.Contains(warnings, w => w.Contains("needs a negative prompt"));
        Assert.Equal((32, 32), (result.Images[0].Height, result.Images[0].Width));
        // the estimate counts the true-CFG rows only with a negative prompt
        Assert.True(pipeline.Estimate(request).DenoiseBytes > pipeline.Estimate(request with { NegativePrompt = null }).DenoiseBytes);
        Assert.True(pipeline.Estimate(request).DecodeBytes > 0);
    }

    /// <summary>CFG parallel (the [negative; positive] rows and their text masks split between ranks), Ulysses and
    /// Ring (the image tokens split, the padded text keys still masked) draw the single-rank images.</summary>
    [Theory]
    [InlineData(true, 1, 1)]
    [InlineData(false, 2, 1)]
    [InlineData(false, 1, 2)]
    public void ParallelMethodsDrawTheSingleRankImages(bool cfg, int ulysses, int ring)
    {
        var dir = TestPaths.Fixture("pipe_qwenimage");
        var request = FixtureRequest() with { Prompts = new[] { "a red fox running through fresh snow", "waves" }, NumInferenceSteps = 2 };
        float[] want;
        using (var pipeline = PipelineLoader.Load(dir))
            want = pipeline.Generate(request).Images.SelectMany(i => i.Pixels).ToArray();
        var config = new ParallelConfig { WorldSize = (cfg ? 2 : 1) * ulysses * ring, UseCfgParallel = cfg, UlyssesDegree = ulysses, RingDegree = ring };
        var outcome = ParallelGeneration.Run(dir, config, request);
        Assert.All(outcome.BytesSentPerRank, b => Assert.True(b > 0));
        double err = Numerics.RelativeError(outcome.Result.Images.SelectMany(i => i.Pixels).ToArray(), want);
        output.WriteLine($"pipe_qwenimage on {outcome.Mesh}: relative error {err:E2}");
        Assert.True(err < 1e-5, $"pipe_qwenimage on {outcome.Mesh}: relative error {err:E2}");
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
        // token 1: comb = (0,2) + 2·((0,1) − (0,2)) = (0, 0): ‖comb‖ = 0 gives NaN, as in diffusers
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
