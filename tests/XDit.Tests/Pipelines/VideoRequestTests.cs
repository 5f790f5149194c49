using XDit.Engine.Pipelines;

namespace XDit.Tests.Pipelines;

/// <summary>The video options of a request (num_frames, use_dynamic_cfg) are refused by image pipelines in one line,
/// before any work; the loader tells video folders from image ones by model_index.json alone.</summary>
public class VideoRequestTests
{
    [Theory]
    [InlineData(9, false)]
    [InlineData(null, true)]
    public void AnImagePipelineRefusesVideoOptions(int? frames, bool dynamicCfg)
    {
        using var pipeline = PipelineLoader.Load(TestPaths.DemoModel);
        Assert.IsNotType<TextToVideoPipeline>(pipeline, exactMatch: false);
        var request = GenerationRequest.For("a red circle") with { NumFrames = frames, UseDynamicCfg = dynamicCfg, NumInferenceSteps = 1 };
        var e = Assert.Throws<ArgumentException>(() => pipeline.Generate(request));
        Assert.Contains("num_frames and use_dynamic_cfg are for video pipelines", e.Message);
        Assert.Contains(pipeline.GetType().Name, e.Message);
    }

    [Fact]
    public void VideoFoldersAreKnownByTheirModelIndex()
    {
        Assert.False(PipelineLoader.IsVideo(TestPaths.DemoModel));
        Assert.False(PipelineLoader.IsVideo(TestPaths.Fixture("pipe_sd3")));
        Assert.True(PipelineLoader.IsVideo(TestPaths.Fixture("pipe_cogvideox")));
        Assert.True(PipelineLoader.IsVideo(TestPaths.Fixture("pipe_latte")));
    }

    /// <summary>Given latents of the wrong size or shape are refused naming the expected shape and its axes (the
    /// video pipelines' shared check), before the denoising loop.</summary>
    [Theory]
    [InlineData("pipe_cogvideox", new[] { 1, 3, 4, 4, 4 }, "expected [1, 3, 4, 4, 4] (batch, latent frames, channels")]
    [InlineData("pipe_latte", new[] { 1, 4, 5, 4, 4 }, "expected [1, 4, 5, 4, 4] (batch, channels, frames")]
    [InlineData("pipe_wan", new[] { 1, 16, 3, 4, 4 }, "expected [1, 16, 3, 4, 4] (batch, channels, (num_frames - 1) / 4 + 1")]
    public void GivenLatentsOfAnotherShapeAreRefusedNamingTheExpectedOne(string folder, int[] expected, string message)
    {
        using var pipeline = Assert.IsType<TextToVideoPipeline>(PipelineLoader.Load(TestPaths.Fixture(folder)), exactMatch: false);
        int n = expected.Aggregate(1, (a, d) => a * d);
        var request = GenerationRequest.For("a panda") with { Height = 32, Width = 32, NumFrames = folder == "pipe_latte" ? 5 : 9, NumInferenceSteps = 1, MaxSequenceLength = 16 };
        var wrongSize = Assert.Throws<ArgumentException>(() => pipeline.GenerateVideo(request with { Latents = new float[n + 1] }));
        Assert.Contains(message, wrongSize.Message);
        var shape = (int[])expected.Clone();
        (shape[1], shape[2]) = (shape[2], shape[1]);   // the same count, two axes swapped
        var wrongShape = Assert.Throws<ArgumentException>(() => pipeline.GenerateVideo(request with { Latents = new float[n], LatentsShape = shape }));
        Assert.Contains($"have shape [{string.Join(", ", shape)}]", wrongShape.Message);
        Assert.Contains(message, wrongShape.Message);
    }
}
