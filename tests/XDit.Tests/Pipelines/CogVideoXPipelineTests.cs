using XDit.Engine.Pipelines;
using XDit.Engine.Samplers;

namespace XDit.Tests.Pipelines;

/// <summary>CogVideoXPipeline beyond its golden fixture (pipe_cogvideox in <see cref="PipelineFixtureTests"/>): the
/// latent frame count, use_dynamic_cfg's scale, the video result and the estimate's growth with the frames.</summary>
public class CogVideoXPipelineTests
{
    [Theory]
    // values of diffusers' expression computed by Python: 1 + s·(1 − cos(π·((n − t)/n)^5))/2
    [InlineData(6f, 50, 999f, 2.291487174551452)]
    [InlineData(6f, 50, 19f, 1.123397939968981)]
    [InlineData(6f, 3, 332f, 3.7481633040187146)]
    public void DynamicGuidanceScaleIsDiffusersExpression(float scale, int steps, float timestep, double expected)
        => Assert.Equal((float)expected, CogVideoXPipeline.DynamicGuidanceScale(scale, steps, timestep));

    [Fact]
    public void FramesDecideTheLatentFramesTheVideoAndTheEstimate()
    {
        using var pipeline = Assert.IsType<CogVideoXPipeline>(PipelineLoader.Load(TestPaths.Fixture("pipe_cogvideox")));
        Assert.Equal(9, pipeline.DefaultNumFrames); // the transformer's sample_frames
        var request = GenerationRequest.For("a panda") with { NumFrames = 9, Height = 32, Width = 48, NumInferenceSteps = 1, MaxSequenceLength = 16 };
        Assert.Equal((3, 0), pipeline.LatentFrames(request));
        Assert.Equal((13, 0), pipeline.LatentFrames(request with { NumFrames = 49 }));
        var result = pipeline.GenerateVideo(request);
        var video = Assert.Single(result.Videos);
        Assert.Equal((9, 32, 48), (video.FrameCount, video.Height, video.Width));
        Assert.Equal(9, result.NumFrames);
        Assert.All(video.Pixels, v => Assert.InRange(v, 0f, 1f));
        var small = pipeline.Estimate(request);
        var large = pipeline.Estimate(request with { NumFrames = 49 });
        // the transformer's activations grow with its tokens: 16 text + 6 video tokens per latent frame (2x3 patches)
        Assert.Equal((16 + 13 * 6) / (double)(16 + 3 * 6), large.DenoiseBytes / (double)small.DenoiseBytes, 2);
        Assert.True(large.DecodeBytes > small.DecodeBytes, $"decode {small.DecodeBytes} → {large.DecodeBytes}");
        var e = Assert.Throws<NotSupportedException>(() => pipeline.Generate(request));
        Assert.Contains("makes videos", e.Message);
    }

    /// <summary>The folder with CogVideoX-5b's other sampler, CogVideoXDPMScheduler (the same config keys): links to
    /// every component of pipe_cogvideox but the scheduler.</summary>
    static string DpmFolder()
    {
        var src = TestPaths.Fixture("pipe_cogvideox");
        var dir = Path.Combine(TestPaths.TempDir(), "cogvideox_dpm");
        Directory.CreateDirectory(Path.Combine(dir, "scheduler"));
        foreach (var name in new[] { "model_index.json", "text_encoder", "tokenizer", "transformer", "vae" })
        {
            var target = Path.GetFullPath(Path.Combine(src, name));
            if (Directory.Exists(target)) Directory.CreateSymbolicLink(Path.Combine(dir, name), target);
            else File.CreateSymbolicLink(Path.Combine(dir, name), target);
        }
        var config = File.ReadAllText(Path.Combine(src, "scheduler", "scheduler_config.json")).Replace("CogVideoXDDIMScheduler", "CogVideoXDPMScheduler");
        File.WriteAllText(Path.Combine(dir, "scheduler", "scheduler_config.json"), config);
        return dir;
    }

    [Fact]
    public void WithTheDpmSamplerTheStepNoiseFollowsTheSeed()
    {
        using var pipeline = Assert.IsType<CogVideoXPipeline>(PipelineLoader.Load(DpmFolder()));
        var request = GenerationRequest.For("a panda") with { NumFrames = 5, Height = 32, Width = 32, NumInferenceSteps = 3, MaxSequenceLength = 16 };
        float[] Latents(GenerationRequest r)
        {
            var trace = new PipelineTrace();
            pipeline.Trace = trace;
            pipeline.GenerateVideo(r);
            return trace.Find("latents")!.Values;
        }
        var a = Latents(request);
        Assert.Equal(a, Latents(request)); // the sampler's noise is drawn from the request's seed: the same run again
        var start = NoiseGenerator.Normal(a.Length, request.Seed);
        // another seed for the step noise only: the same start latents, another result
        Assert.NotEqual(a, Latents(request with { Seed = 43, Latents = start }));
        Assert.Equal(a, Latents(request with { Seed = 42, Latents = start }));
        Assert.All(a, v => Assert.True(float.IsFinite(v)));
    }
}
