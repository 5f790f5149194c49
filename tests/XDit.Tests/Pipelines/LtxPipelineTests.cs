using XDit.Engine.Execution;
using XDit.Engine.Pipelines;
using XDit.Engine.Verify;
using XDit.Kernels.Cpu;

namespace XDit.Tests.Pipelines;

/// <summary>LtxPipeline against diffusers' LTXPipeline (pipe_ltx: one prompt with CFG, frame_rate 24, decode_timestep
/// 0.05 with decode_noise_scale 0, the VAE's latents_mean / latents_std drawn away from 0 / 1), its defaults and
/// ratios, the seeded decode noise, the options it refuses (another pipeline's, and LTX's on other pipelines), and
/// CFG and Ulysses on two ranks drawing the single-rank video.</summary>
public class LtxPipelineTests(ITestOutputHelper output)
{
    static string Dir => TestPaths.Fixture("pipe_ltx");

    /// <summary>The fixture's call, from seeded noise.</summary>
    static GenerationRequest Small() => new()
    {
        Prompts = ["a panda playing a guitar by a lake"], NegativePrompt = "worst quality, blurry", NumInferenceSteps = 2,
        GuidanceScale = 3f, Height = 32, Width = 32, NumFrames = 5, MaxSequenceLength = 16, Seed = 3,
        FrameRate = 24, DecodeTimestep = 0.05, DecodeNoiseScale = 0,
    };

    [Fact]
    public void FixtureMatchesDiffusers()
    {
        using var ops = new CpuOps();
        var results = FixtureVerifier.Verify(Dir, ops);
        foreach (var name in new[] { "in.input_ids", "prompt_attention_mask", "prompt_embeds", "negative_prompt_embeds", "latents", "frames" })
            Assert.Contains(results, r => r.Name == name);
        foreach (var r in results)
        {
            output.WriteLine($"{r.Name}: {r.RelativeError:E2}");
            Assert.True(r.Passed, $"pipe_ltx {r.Name}: relative error {r.RelativeError:E3} (max abs {r.MaxAbsError:E3}) > {r.Tolerance:E1} {r.Problem}");
        }
    }

    [Fact]
    public void DefaultsRatiosAndRopeScaleAreDiffusers()
    {
        using var pipeline = Assert.IsType<LtxPipeline>(PipelineLoader.Load(Dir));
        Assert.True(PipelineLoader.IsVideo(Dir));
        Assert.Equal((50, 3f, 161, 512, 32), (pipeline.DefaultSteps, pipeline.DefaultGuidanceScale, pipeline.DefaultNumFrames, pipeline.DefaultSize, pipeline.SizeMultiple));
        // the fixture's VAE: patch_size 1 and two spatio-temporal scalings, so 4 and 4 (LTX-Video's real one: 32 and 8)
        Assert.Equal((4, 4), (pipeline.SpatialRatio, pipeline.TemporalRatio));
        Assert.Equal((4f / 25f, 4f, 4f), pipeline.RopeInterpolationScale(LtxPipeline.DefaultFrameRate));
        Assert.Equal(new[] { 1, 2, 2, 3 }, new[] { 1, 5, 8, 9 }.Select(pipeline.LatentFrames).ToArray());
    }

    /// <summary>num_frames is not rounded (diffusers does not): 7 frames make 2 latent frames, which decode to 5, with
    /// a warning; frame_rate reaches the transformer's RoPE.</summary>
    [Fact]
    public void FramesDecodeToTheVaesCountAndFrameRateMovesTheVideo()
    {
        using var pipeline = Assert.IsType<LtxPipeline>(PipelineLoader.Load(Dir));
        var warnings = new List<string>();
        pipeline.Warning += (_, m) => warnings.Add(m);
        var request = Small() with { NumFrames = 7 };
        var video = Assert.Single(pipeline.GenerateVideo(request).Videos);
        Assert.Equal((5, 32, 32), (video.FrameCount, video.Height, video.Width));
        Assert.Contains(warnings, m => m.Contains("num_frames 7: 2 latent frames decode to 5 frames"));
        Assert.All(video.Pixels, v => Assert.InRange(v, 0f, 1f));
        var other = Assert.Single(pipeline.GenerateVideo(request with { FrameRate = 8 }).Videos);
        Assert.True(Numerics.RelativeError(other.Pixels, video.Pixels) > 1e-4, "frame_rate 8 drew the video of frame_rate 24");
    }

    /// <summary>decode_noise_scale (by default decode_timestep) mixes seeded noise into the latents before the decode:
    /// (1 − s)·z + s·noise, the same for the same seed, another for another seed; s = 0 is the plain decode.</summary>
    [Fact]
    public void DecodeNoiseIsMixedFromTheSeed()
    {
        using var pipeline = Assert.IsType<LtxPipeline>(PipelineLoader.Load(Dir));
        float[] Pixels(GenerationRequest r) => Assert.Single(pipeline.GenerateVideo(r).Videos).Pixels;
        var plain = Pixels(Small());
        var noisy = Pixels(Small() with { DecodeNoiseScale = 0.3 });
        Assert.Equal(noisy, Pixels(Small() with { DecodeNoiseScale = 0.3 }));
        Assert.True(Numerics.RelativeError(noisy, plain) > 1e-3, "decode_noise_scale 0.3 decoded the plain latents");
        // diffusers' default noise scale is decode_timestep (0.05 here)
        Assert.Equal(Pixels(Small() with { DecodeNoiseScale = 0.05 }), Pixels(Small() with { DecodeNoiseScale = null }));
        // the initial latents given, only the decode noise depends on the seed
        var latents = Enumerable.Range(0, 8 * 2 * 8 * 8).Select(i => MathF.Sin(i * 0.37f)).ToArray();
        var given = Small() with { Latents = latents, DecodeNoiseScale = 0.3 };
        Assert.NotEqual(Pixels(given), Pixels(given with { Seed = 4 }));
        Assert.Equal(Pixels(given with { DecodeNoiseScale = 0 }), Pixels(given with { DecodeNoiseScale = 0, Seed = 4 }));
    }

    [Fact]
    public void OtherOptionsAndSizesAreRefused()
    {
        using var pipeline = Assert.IsType<LtxPipeline>(PipelineLoader.Load(Dir));
        Assert.Contains("multiples of 32", Assert.Throws<ArgumentException>(() => pipeline.GenerateVideo(Small() with { Height = 48 })).Message);
        Assert.Contains("use_dynamic_cfg", Assert.Throws<ArgumentException>(() => pipeline.GenerateVideo(Small() with { UseDynamicCfg = true })).Message);
        Assert.Contains("true_cfg_scale", Assert.Throws<ArgumentException>(() => pipeline.GenerateVideo(Small() with { TrueCfgScale = 2f })).Message);
        var latents = Assert.Throws<ArgumentException>(() => pipeline.GenerateVideo(Small() with { Latents = new float[8 * 2 * 8 * 8], LatentsShape = [1, 128, 8] }));
        Assert.Contains("expected [1, 8, 2, 8, 8] (batch, channels, (num_frames - 1) / 4 + 1, height / 4, width / 4)", latents.Message);
        Assert.Contains("use at least 2 steps", Assert.Throws<ArgumentException>(() => pipeline.GenerateVideo(Small() with { NumInferenceSteps = 1 })).Message);
        Assert.Contains("frame_rate must be a finite number above 0", Assert.Throws<ArgumentException>(() => pipeline.GenerateVideo(Small() with { FrameRate = 0 })).Message);

        // LTX's options on another video pipeline
        using var wan = PipelineLoader.Load(TestPaths.Fixture("pipe_wan"));
        var foreign = Assert.Throws<ArgumentException>(() => ((TextToVideoPipeline)wan).GenerateVideo(GenerationRequest.For("a cat") with { DecodeTimestep = 0.05 }));
        Assert.Contains("frame_rate, decode_timestep and decode_noise_scale are LTX-Video's options; WanPipeline", foreign.Message);
    }

    /// <summary>guidance_rescale (rescale_noise_cfg over each packed row) is applied: it moves the latents, and 0 is
    /// the plain guidance.</summary>
    [Fact]
    public void GuidanceRescaleMovesTheLatents()
    {
        using var pipeline = Assert.IsType<LtxPipeline>(PipelineLoader.Load(Dir));
        float[] Latents(float rescale)
        {
            var trace = new PipelineTrace();
            pipeline.Trace = trace;
            pipeline.GenerateVideo(Small() with { GuidanceRescale = rescale });
            return trace.Find("latents")!.Values;
        }
        var plain = Latents(0f);
        Assert.Equal(plain, Latents(0f));
        Assert.True(Numerics.RelativeError(Latents(0.7f), plain) > 1e-3, "guidance_rescale 0.7 left the latents as they were");
    }

    /// <summary>CFG parallel (the negative and positive rows on two ranks), Ulysses 2 (the 128 video tokens split in
    /// two, the 2 heads one per rank) and Ring 2 draw the single-rank video.</summary>
    [Theory]
    [InlineData(true, 1, 1)]
    [InlineData(false, 2, 1)]
    [InlineData(false, 1, 2)]
    public void CfgParallelUlyssesAndRingDrawTheSingleRankVideo(bool cfg, int ulysses, int ring)
    {
        var outcome = VideoRankChecks.DrawsTheSingleRankVideos<LtxPipeline>(Dir,
            new ParallelConfig { WorldSize = 2, UseCfgParallel = cfg, UlyssesDegree = ulysses, RingDegree = ring }, Small(), output);
        Assert.Equal(5, outcome.Result.NumFrames);
        Assert.All(outcome.BytesSentPerRank, b => Assert.True(b > 0));
    }

    /// <summary>Data parallel: two prompts on two replicas, the seeded initial and decode noise drawn where one rank
    /// draws them, make the single-rank pair of videos.</summary>
    [Fact]
    public void DataParallelDrawsTheSingleRankVideos()
    {
        // with decode noise, drawn per row where one rank draws it
        var request = Small() with { Prompts = ["a cat", "a dog"], DecodeNoiseScale = 0.3 };
        var outcome = VideoRankChecks.DrawsTheSingleRankVideos<LtxPipeline>(Dir, new ParallelConfig { WorldSize = 2, DataParallelDegree = 2 }, request);
        Assert.Equal(2, outcome.Result.Videos.Count);
        Assert.NotEqual(outcome.Result.Videos[0].Pixels, outcome.Result.Videos[1].Pixels);
    }
}
