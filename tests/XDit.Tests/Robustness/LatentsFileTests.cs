using XDit.Engine.Pipelines;
using XDit.Tests.Runtime;

namespace XDit.Tests.Robustness;

/// <summary>`--latents FILE`: the tensor is found by name, must be a float [B, C, h, w] (a video's: 5-D), and its shape (not only its
/// count) must be the run's (issue 22, item 6).</summary>
public class LatentsFileTests
{
    static string File(string header, int dataBytes) => RawSafetensors.WriteTemp(RawSafetensors.Build(header, dataBytes));

    [Theory]
    [InlineData("{}", 0, "holds no tensors")]
    [InlineData("""{"latents":{"dtype":"I32","shape":[1,1,2,2],"data_offsets":[0,16]}}""", 16, "is I32; latents must be a float tensor")]
    [InlineData("""{"latents":{"dtype":"F32","shape":[4,4],"data_offsets":[0,64]}}""", 64, "expected 4 dimensions")]
    [InlineData("""{"latents":{"dtype":"F32","shape":[1,1,1,1,2,2],"data_offsets":[0,16]}}""", 16, "a video pipeline's: 5")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8, "none of its 2 tensors")]
    public void AFileThatHoldsNoUsableLatentsIsOneLine(string header, int bytes, string says)
    {
        var path = File(header, bytes);
        var e = Assert.Throws<FormatException>(() => LatentsFile.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(says, e.Message);
    }

    [Fact]
    public void TheOnlyTensorOrAKnownNameIsRead()
    {
        var only = LatentsFile.Read(File("""{"noise":{"dtype":"F32","shape":[1,1,1,2],"data_offsets":[0,8]}}""", 8));
        Assert.Equal(("noise", 2), (only.TensorName, only.Values.Length));
        Assert.Equal(new[] { 1, 1, 1, 2 }, only.Shape);
        var known = LatentsFile.Read(File("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"latents":{"dtype":"F16","shape":[1,1,1,1],"data_offsets":[4,6]}}""", 6));
        Assert.Equal("latents", known.TensorName);
        // a video pipeline's latents have the frames too (the pipeline checks the layout)
        Assert.Equal(new[] { 1, 4, 5, 2, 2 }, LatentsFile.Read(File("""{"latents":{"dtype":"F32","shape":[1,4,5,2,2],"data_offsets":[0,320]}}""", 320)).Shape);
    }

    [Fact]
    public void LatentsOfTheRightCountButTheWrongShapeAreRefused()
    {
        using var pipeline = (PixArtPipeline)PipelineLoader.Load(TestPaths.DemoModel);
        var config = pipeline.Transformer.Config;
        int m = pipeline.SizeMultiple, f = m / config.PatchSize, c = config.InChannels;
        var request = new GenerationRequest { Prompts = ["a red circle"], NumInferenceSteps = 1, Height = 2 * m, Width = m };
        int h = 2 * m / f, w = m / f;
        var values = new float[c * h * w];
        var e = Assert.Throws<ArgumentException>(() => pipeline.Generate(request with { Latents = values, LatentsShape = [1, c, w, h] }));
        Assert.Contains($"expected [1, {c}, {h}, {w}]", e.Message);
        Assert.Single(pipeline.Generate(request with { Latents = values, LatentsShape = [1, c, h, w] }).Images);
    }
}
