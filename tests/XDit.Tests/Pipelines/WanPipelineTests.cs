using XDit.Engine.Execution;
using XDit.Engine.Pipelines;

namespace XDit.Tests.Pipelines;

/// <summary>WanPipeline beyond its golden fixture (pipe_wan in <see cref="PipelineFixtureTests"/>, one prompt against
/// diffusers): prompt_clean, the num_frames rounding, the text states zeroed past each prompt, the refused Wan 2.2
/// two-expert folders, and CFG, Ulysses, Ring and data parallel on two ranks drawing the single-rank video.</summary>
public class WanPipelineTests(ITestOutputHelper output)
{
    static string Dir => TestPaths.Fixture("pipe_wan");

    static GenerationRequest Small() => new()
    {
        Prompts = ["a red cat sits on the blue sky"], NegativePrompt = "high quality", NumInferenceSteps = 2,
        GuidanceScale = 5f, Height = 32, Width = 32, NumFrames = 9, MaxSequenceLength = 16, Seed = 3,
    };

    [Theory]
    [InlineData("  A red cat&amp;#32;sits\ton  the blue sky\n", "A red cat sits on the blue sky")]  // the fixture's prompt
    [InlineData("a &lt;b&gt; &amp;amp; c", "a <b> & c")]   // decoded twice: &amp;amp; → &amp; → &
    [InlineData("\u3000wide\u00a0spaces\r\n\r\nend ", "wide spaces end")]
    [InlineData("", "")]
    public void PromptCleanIsDiffusersWithoutFtfy(string text, string expected)
        => Assert.Equal(expected, WanPromptClean.Clean(text));

    [Fact]
    public void DefaultsAreDiffusersAndFramesRoundDownTo4kPlus1()
    {
        using var pipeline = Assert.IsType<WanPipeline>(PipelineLoader.Load(Dir));
        Assert.True(PipelineLoader.IsVideo(Dir));
        Assert.Equal((50, 5f, 81, 480, 16), (pipeline.DefaultSteps, pipeline.DefaultGuidanceScale, pipeline.DefaultNumFrames, pipeline.DefaultSize, pipeline.SizeMultiple));
        // diffusers: num_frames // 4 * 4 + 1 with a warning where num_frames − 1 is not a multiple of 4
        Assert.Equal(new[] { 1, 1, 5, 9, 9, 81 }, new[] { 1, 2, 7, 8, 10, 81 }.Select(n => pipeline.Frames(new GenerationRequest { Prompts = ["x"], NumFrames = n })).ToArray());
        var warnings = new List<string>();
        pipeline.Warning += (_, m) => warnings.Add(m);
        var video = Assert.Single(pipeline.GenerateVideo(Small() with { NumFrames = 7, NumInferenceSteps = 1, GuidanceScale = 1f }).Videos);
        Assert.Equal((5, 32, 32), (video.FrameCount, video.Height, video.Width));
        Assert.Contains(warnings, m => m.Contains("7 rounded to 5"));
        Assert.All(video.Pixels, v => Assert.InRange(v, 0f, 1f));
        Assert.NotEqual(video.Frame(0).Pixels, video.Frame(4).Pixels);
        var e = Assert.Throws<ArgumentException>(() => pipeline.GenerateVideo(Small() with { Height = 40 }));
        Assert.Contains("multiples of 16", e.Message);
    }

    /// <summary>Two prompts of different lengths: each row's UMT5 states are kept for its own tokens (EOS included)
    /// and zero past them, at the full max_sequence_length, and equal the states the prompt gets alone.</summary>
    [Fact]
    public void TextStatesAreZeroPastEachPromptsTokens()
    {
        using var pipeline = Assert.IsType<WanPipeline>(PipelineLoader.Load(Dir));
        var request = Small() with { Prompts = ["a cat", "a red cat sits on the blue sky"], NumInferenceSteps = 1 };
        var trace = new PipelineTrace();
        pipeline.Trace = trace;
        pipeline.GenerateVideo(request);
        var embeds = trace.Find("prompt_embeds")!;
        Assert.Equal(new[] { 2, 16, 16 }, embeds.Shape);
        int d = 16, length = 16;
        foreach (var (row, tokens) in new[] { (0, 3), (1, 9) })   // "a cat" → ▁a ▁cat </s>; the other 8 + </s>
        {
            var values = embeds.Values.AsSpan(row * length * d, length * d).ToArray();
            Assert.All(values[(tokens * d)..], v => Assert.Equal(0f, v));
            Assert.All(Enumerable.Range(0, tokens), t => Assert.Contains(values.Skip(t * d).Take(d), v => v != 0f));
        }
        var alone = new PipelineTrace();
        pipeline.Trace = alone;
        pipeline.GenerateVideo(request with { Prompts = ["a cat"] });
        double err = Numerics.RelativeError(embeds.Values.AsSpan(0, length * d).ToArray(), alone.Find("prompt_embeds")!.Values);
        Assert.True(err < 1e-6, $"'a cat' in a batch of two differs from alone by {err:E2}");
        Assert.Equal(new[] { 2, 16, 16 }, trace.Find("negative_prompt_embeds")!.Shape);
    }

    [Fact]
    public void Wan22TwoExpertFoldersAreRefused()
    {
        var dir = Directory.CreateTempSubdirectory("wan22-").FullName;
        try
        {
            foreach (var sub in new[] { "scheduler", "text_encoder", "tokenizer", "transformer", "vae" })
                Directory.CreateSymbolicLink(Path.Combine(dir, sub), Path.Combine(Dir, sub));
            Directory.CreateSymbolicLink(Path.Combine(dir, "transformer_2"), Path.Combine(Dir, "transformer"));
            var index = File.ReadAllText(Path.Combine(Dir, "model_index.json"))
                .Replace("\"boundary_ratio\": null", "\"boundary_ratio\": 0.875")
                .Replace("\"transformer_2\": [\n    null,\n    null\n  ]", "\"transformer_2\": [\"diffusers\", \"WanTransformer3DModel\"]");
            Assert.Contains("0.875", index);
            Assert.Contains("\"WanTransformer3DModel\"]", index);
            File.WriteAllText(Path.Combine(dir, "model_index.json"), index);
            var e = Assert.Throws<NotSupportedException>(() => PipelineLoader.Load(dir));
            Assert.Contains("boundary_ratio 0.875 and a transformer_2", e.Message);
            Assert.Contains("model_index.json", e.Message);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    /// <summary>CFG parallel (the negative and positive rows on two ranks), Ulysses 2 (the 12 video tokens of 9
    /// frames 32×32 split in two, the 2 heads one per rank) and Ring 2 draw the single-rank video.</summary>
    [Theory]
    [InlineData(true, 1, 1)]
    [InlineData(false, 2, 1)]
    [InlineData(false, 1, 2)]
    public void CfgParallelUlyssesAndRingDrawTheSingleRankVideo(bool cfg, int ulysses, int ring)
    {
        var outcome = VideoRankChecks.DrawsTheSingleRankVideos<WanPipeline>(Dir,
            new ParallelConfig { WorldSize = 2, UseCfgParallel = cfg, UlyssesDegree = ulysses, RingDegree = ring }, Small(), output);
        Assert.Equal(9, outcome.Result.NumFrames);
        Assert.All(outcome.BytesSentPerRank, b => Assert.True(b > 0));
    }

    /// <summary>Data parallel: two prompts on two replicas, seeded noise drawn where one rank draws it (no given
    /// latents), make the single-rank pair of videos.</summary>
    [Fact]
    public void DataParallelDrawsTheSingleRankVideos()
    {
        var request = Small() with { Prompts = ["a cat", "a dog"], NumInferenceSteps = 1 };
        var outcome = VideoRankChecks.DrawsTheSingleRankVideos<WanPipeline>(Dir, new ParallelConfig { WorldSize = 2, DataParallelDegree = 2 }, request);
        Assert.Equal(2, outcome.Result.Videos.Count);
        Assert.NotEqual(outcome.Result.Videos[0].Pixels, outcome.Result.Videos[1].Pixels);
    }
}
