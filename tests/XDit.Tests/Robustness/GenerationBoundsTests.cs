using XDit.Engine.Execution;
using XDit.Engine.Pipelines;

namespace XDit.Tests.Robustness;

/// <summary>The library refuses work it cannot bound before doing any (issue 22, item 1): what the CLI and the
/// service both go through.</summary>
public class GenerationBoundsTests
{
    static GenerationRequest Req(Func<GenerationRequest, GenerationRequest> change) => change(GenerationRequest.For("a red circle"));

    [Theory]
    [InlineData(1_000_000_000, null, null, 1, null, "num_inference_steps")]
    [InlineData(null, 100_000, 100_000, 1, null, "height")]
    [InlineData(null, int.MaxValue, int.MaxValue, 1, null, "height")]
    [InlineData(null, int.MaxValue, null, 1, null, "height")]
    [InlineData(null, 64, 64, 100_000, null, "num_images_per_prompt")]
    [InlineData(null, 4096, 4096, 64, null, "num_images_per_prompt")]
    [InlineData(null, null, null, 1, 3e38f, "guidance_scale")]
    public void ARequestBeyondTheLibraryLimitsIsRefusedNamingItsField(int? steps, int? height, int? width, int perPrompt, float? guidance, string field)
    {
        var r = Req(r => r with { NumInferenceSteps = steps, Height = height, Width = width, NumImagesPerPrompt = perPrompt, GuidanceScale = guidance });
        var e = Assert.Throws<RequestLimitException>(() => r.Validate());
        Assert.Equal(field, e.Field);
        Assert.Contains("limit", e.Message);
    }

    [Fact]
    public void RowsOfABatchMustLieInIt()
    {
        // 2 prompts × 2 images from row 3 need a batch of at least 7 rows (0: the request is the whole batch)
        var r = Req(r => r with { Prompts = new[] { "a", "b" }, NumImagesPerPrompt = 2, FirstRow = 3 });
        r.Validate();
        (r with { TotalRows = 7 }).Validate();
        var e = Assert.Throws<ArgumentException>(() => (r with { TotalRows = 6 }).Validate());
        Assert.Contains("total rows 6", e.Message);
        Assert.Throws<ArgumentException>(() => (r with { FirstRow = -1 }).Validate());
    }

    [Fact]
    public void ThePipelineRefusesBeforeAnyStepAndChecksItsDefaultSizeToo()
    {
        using var pipeline = PipelineLoader.Load(TestPaths.DemoModel);
        int steps = 0;
        pipeline.Progress += (_, _) => steps++;
        Assert.Throws<RequestLimitException>(() => pipeline.Generate(Req(r => r with { NumInferenceSteps = 1_000_000_000 })));
        Assert.Throws<RequestLimitException>(() => pipeline.Generate(Req(r => r with { Height = 4096 * 8, Width = 4096 * 8 })));
        // the request gives no size: the model's default is what the limit meets
        pipeline.Limits = new GenerationLimits { MaxPixels = pipeline.DefaultSize * pipeline.DefaultSize - 1 };
        var e = Assert.Throws<RequestLimitException>(() => pipeline.Generate(Req(r => r with { NumInferenceSteps = 1 })));
        Assert.Contains($"{pipeline.DefaultSize}x{pipeline.DefaultSize}", e.Message);
        Assert.Equal(0, steps);
    }

    [Fact]
    public void LimitsThatNoLongerProtectAnIntIndexAreRefused()
    {
        Assert.Throws<ArgumentException>(() => new GenerationLimits { MaxPixels = long.MaxValue }.Validate());
        Assert.Throws<ArgumentException>(() => new GenerationLimits { MaxSteps = 0 }.Validate());
        new GenerationLimits().Validate();
    }

    [Fact]
    public void ParallelGenerationChecksTheLimitsBeforeStartingAnyRank()
    {
        var r = new GenerationRequest { Prompts = ["a", "b"], NumInferenceSteps = 5000 };
        var e = Assert.Throws<RequestLimitException>(() => ParallelGeneration.Run(TestPaths.DemoModel, new ParallelConfig { WorldSize = 2, DataParallelDegree = 2 }, r));
        Assert.Equal("num_inference_steps", e.Field);
    }
}
