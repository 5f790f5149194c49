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
}
