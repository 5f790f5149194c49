using XDit.Engine.Execution;
using XDit.Engine.Pipelines;

namespace XDit.Tests.Pipelines;

/// <summary>
/// <see cref="ParallelGeneration.RunVideo"/> on pipe_cogvideox (and pipe_latte): CFG parallel, Ulysses, Ring and data parallel must
/// draw the single-rank videos (9 frames 32×32: 3 latent frames of 2×2 tokens, 16 text tokens, 2 steps), and what a
/// video pipeline does not take is refused before any rank loads.
/// </summary>
public class VideoParallelGenerationTests
{
    static readonly GenerationRequest Request = new()
    {
        Prompts = ["a panda playing a guitar", "waves"],
        NumFrames = 9, Height = 32, Width = 32, NumInferenceSteps = 2, MaxSequenceLength = 16, GuidanceScale = 6f,
    };

    static readonly Lazy<float[]> SingleRank = new(() =>
    {
        using var pipeline = Assert.IsType<CogVideoXPipeline>(PipelineLoader.Load(TestPaths.Fixture("pipe_cogvideox")));
        return Pixels(pipeline.GenerateVideo(Request));
    });

    static float[] Pixels(VideoGenerationResult r) => r.Videos.SelectMany(v => v.Pixels).ToArray();

    [Theory]
    [InlineData(1, true, 1, 1)]
    [InlineData(1, false, 2, 1)]
    [InlineData(1, false, 1, 2)]
    [InlineData(2, false, 1, 1)]
    public void EveryMethodDrawsTheSingleRankVideos(int data, bool cfg, int ulysses, int ring)
    {
        var config = new ParallelConfig
        {
            WorldSize = data * (cfg ? 2 : 1) * ulysses * ring, DataParallelDegree = data, UseCfgParallel = cfg,
            UlyssesDegree = ulysses, RingDegree = ring,
        };
        var outcome = ParallelGeneration.RunVideo(TestPaths.Fixture("pipe_cogvideox"), config, Request);
        Assert.Equal(2, outcome.Result.Videos.Count);
        Assert.Equal(9, outcome.Result.NumFrames);
        double err = Numerics.RelativeError(Pixels(outcome.Result), SingleRank.Value);
        // the ranks talked (data parallel alone needs no traffic: each replica denoises its own prompt)
        Assert.Equal(data == 1, outcome.BytesSentPerRank.All(b => b > 0));
        Assert.True(err < 1e-5, $"{outcome.Mesh}: the videos differ from the single-rank ones by relative error {err:E2}");
        TestContext.Current.SendDiagnosticMessage($"pipe_cogvideox on {outcome.Mesh}: relative error {err:E2}");
    }

    /// <summary>Latte (pipe_latte: 5 frames 32×32) under CFG parallel; its transformer refuses the token splits.</summary>
    [Fact]
    public void LatteUnderCfgParallelDrawsTheSingleRankVideo()
    {
        var request = new GenerationRequest { Prompts = ["a panda playing a guitar"], NumInferenceSteps = 2, GuidanceScale = 5f };
        using var pipeline = Assert.IsType<LattePipeline>(PipelineLoader.Load(TestPaths.Fixture("pipe_latte")));
        var want = Pixels(pipeline.GenerateVideo(request));
        var outcome = ParallelGeneration.RunVideo(TestPaths.Fixture("pipe_latte"), new ParallelConfig { WorldSize = 2, UseCfgParallel = true }, request);
        double err = Numerics.RelativeError(Pixels(outcome.Result), want);
        Assert.All(outcome.BytesSentPerRank, b => Assert.True(b > 0));
        Assert.True(err < 1e-5, $"pipe_latte on {outcome.Mesh}: relative error {err:E2}");
        var e = Assert.ThrowsAny<Exception>(() => ParallelGeneration.RunVideo(TestPaths.Fixture("pipe_latte"), new ParallelConfig { WorldSize = 2, UlyssesDegree = 2 }, request));
        Assert.Contains("Latte runs on whole videos only", e.ToString());
    }

    [Theory]
    [InlineData("pipefusion", "PipeFusion")]
    [InlineData("vae", "--use-parallel-vae")]
    public void WhatAVideoPipelineDoesNotTakeIsRefusedBeforeLoading(string method, string expected)
    {
        var config = method == "pipefusion"
            ? new ParallelConfig { WorldSize = 2, PipeFusionParallelDegree = 2 }
            : new ParallelConfig { WorldSize = 2, UlyssesDegree = 2, UseParallelVae = true };
        // a folder that does not exist: the refusal must come first
        var e = Assert.Throws<ArgumentException>(() => ParallelGeneration.RunVideo("/nonexistent/cogvideox", config, Request));
        Assert.Contains(expected, e.Message);
    }
}
