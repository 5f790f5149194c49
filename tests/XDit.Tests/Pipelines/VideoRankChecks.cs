using XDit.Engine.Execution;
using XDit.Engine.Pipelines;

namespace XDit.Tests.Pipelines;

/// <summary>The check every video pipeline's parallel tests make: a request drawn by <see cref="ParallelGeneration.RunVideo"/>
/// on the ranks of a plan gives the videos one rank draws, within 1e-5 relative error.</summary>
static class VideoRankChecks
{
    /// <summary>Draws <paramref name="request"/> on one rank (the folder must load as <typeparamref name="TPipeline"/>)
    /// and on <paramref name="config"/>'s ranks, asserts the videos agree, and returns the ranks' outcome for the
    /// caller's own checks.</summary>
    public static ParallelGeneration.VideoOutcome DrawsTheSingleRankVideos<TPipeline>(string dir, ParallelConfig config, GenerationRequest request,
        ITestOutputHelper? output = null) where TPipeline : TextToVideoPipeline
    {
        float[] want;
        using (var pipeline = Assert.IsType<TPipeline>(PipelineLoader.Load(dir)))
            want = pipeline.GenerateVideo(request).Videos.SelectMany(v => v.Pixels).ToArray();
        var outcome = ParallelGeneration.RunVideo(dir, config, request);
        double err = Numerics.RelativeError(outcome.Result.Videos.SelectMany(v => v.Pixels).ToArray(), want);
        string name = Path.GetFileName(dir);
        output?.WriteLine($"{name} on {outcome.Mesh}: relative error {err:E2}");
        Assert.True(err < 1e-5, $"{name} on {outcome.Mesh}: the videos differ from the single-rank ones by relative error {err:E2}");
        return outcome;
    }
}
