using XDit.Engine.Pipelines;
using XDit.Runtime;

namespace XDit.Tests.Pipelines;

/// <summary>LattePipeline beyond its golden fixture (pipe_latte in <see cref="PipelineFixtureTests"/>, one prompt):
/// two prompts against diffusers (mask_feature's other branch), the frame count the transformer's table allows, the
/// chunked decode and the estimate's growth with the frames.</summary>
public class LattePipelineTests(ITestOutputHelper output)
{
    static GenerationRequest FixtureRequest() => new()
    {
        Prompts = new[] { "a panda playing a guitar by a lake" }, NegativePrompt = "blurry", NumInferenceSteps = 3,
        GuidanceScale = 5f, Height = 32, Width = 32, NumFrames = 5, Seed = 7,
    };

    /// <summary>tests/fixtures/pipe_latte/two_prompts.safetensors: diffusers' LattePipeline on the same folder for two
    /// prompts from its in.latents. With more than one row, mask_feature zeroes each prompt's embedding past its own
    /// tokens and keeps all 120 (the negative ones whole), where one prompt's are cut to its length (io.safetensors).</summary>
    [Fact]
    public void TwoPromptsMatchDiffusers()
    {
        var dir = TestPaths.Fixture("pipe_latte");
        using var reference = new SafetensorsFile(Path.Combine(dir, "two_prompts.safetensors"));
        using var latents = reference.ReadF32("in.latents");
        using var pipeline = Assert.IsType<LattePipeline>(PipelineLoader.Load(dir));
        var trace = new PipelineTrace();
        pipeline.Trace = trace;
        var result = pipeline.GenerateVideo(FixtureRequest() with
        {
            Prompts = new[] { "a red fox running through fresh snow", "waves" }, Latents = latents.ToFloatArray(), LatentsShape = latents.Dims,
        });
        Assert.Equal(2, result.Videos.Count);
        foreach (var name in new[] { "prompt_embeds", "negative_prompt_embeds", "latents" })
        {
            using var expected = reference.ReadF32("out." + name);
            var got = trace.Find(name)!;
            Assert.Equal(expected.Dims, got.Shape);
            double err = Numerics.RelativeError(got.Values, expected.ToFloatArray());
            output.WriteLine($"pipe_latte two prompts {name} {Shape.Format(got.Shape)}: rel {err:E3}");
            Assert.True(err < 1e-4, $"two prompts {name}: relative error {err:G3} against diffusers");
        }
        Assert.Equal(new[] { 2, 120, 16 }, trace.Find("prompt_embeds")!.Shape);
    }

    [Fact]
    public void FramesFollowTheFrameTableAndTheChunkedDecodeChangesNoPixel()
    {
        using var pipeline = Assert.IsType<LattePipeline>(PipelineLoader.Load(TestPaths.Fixture("pipe_latte")));
        Assert.Equal(5, pipeline.DefaultNumFrames); // the transformer's video_length
        var request = FixtureRequest() with { NumInferenceSteps = 1, GuidanceScale = 1f };

        // temporal attention has a position table of video_length rows: other counts but 1 are refused up front
        var e = Assert.Throws<ArgumentException>(() => pipeline.GenerateVideo(request with { NumFrames = 4 }));
        Assert.Contains("video_length is 5", e.Message);
        Assert.Contains("num_frames 4", e.Message);
        Assert.Contains("CogVideoX", Assert.Throws<ArgumentException>(() => pipeline.GenerateVideo(request with { UseDynamicCfg = true })).Message);
        var single = Assert.Single(pipeline.GenerateVideo(request with { NumFrames = 1 }).Videos);
        Assert.Equal((1, 32, 32), (single.FrameCount, single.Height, single.Width));

        // every frame is decoded as its own picture: 2 frames at a time (the fixture's chunk) or all at once agree
        pipeline.DecodeChunkSize = 2;
        var chunked = pipeline.GenerateVideo(request);
        pipeline.DecodeChunkSize = 14;
        var whole = pipeline.GenerateVideo(request);
        var video = Assert.Single(whole.Videos);
        Assert.Equal((5, 32, 32), (video.FrameCount, video.Height, video.Width));
        Assert.All(video.Pixels, v => Assert.InRange(v, 0f, 1f));
        Assert.Equal(video.Pixels, chunked.Videos[0].Pixels);
        Assert.NotEqual(video.Frame(0).Pixels, video.Frame(4).Pixels);
        Assert.Throws<ArgumentOutOfRangeException>(() => pipeline.DecodeChunkSize = 0);

        // two videos of one prompt are two rows, mask_feature's zeroing branch as in diffusers: all 120 tokens kept
        var trace = new PipelineTrace();
        pipeline.Trace = trace;
        Assert.Equal(2, pipeline.GenerateVideo(request with { NumImagesPerPrompt = 2 }).Videos.Count);
        var embeds = trace.Find("prompt_embeds")!;
        Assert.Equal(new[] { 2, 120, 16 }, embeds.Shape);
        Assert.All(embeds.Values.AsSpan(14 * 16, 106 * 16).ToArray(), v => Assert.Equal(0f, v)); // past the prompt's 14 tokens
        Assert.Contains(embeds.Values.Take(14 * 16), v => v != 0f);
        pipeline.Trace = null;

        var e1 = pipeline.Estimate(request with { NumFrames = 1 });
        var e5 = pipeline.Estimate(request);
        // 120 text tokens and 4 tokens (2x2 patches) per frame
        Assert.Equal((120 + 5 * 4) / (double)(120 + 4), e5.DenoiseBytes / (double)e1.DenoiseBytes, 2);
        // the decoder holds up to decode_chunk_size frames at once: 1, 2 or all 5
        pipeline.DecodeChunkSize = 2;
        long two = pipeline.Estimate(request).DecodeBytes;
        Assert.True(e1.DecodeBytes < two && two < e5.DecodeBytes, $"decode bytes: 1 frame {e1.DecodeBytes}, chunks of 2 {two}, 5 at once {e5.DecodeBytes}");
    }
}
