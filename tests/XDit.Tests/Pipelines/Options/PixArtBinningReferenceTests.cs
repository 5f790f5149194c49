using System.Text.Json;
using System.Text.Json.Nodes;
using XDit.Engine.Pipelines;

namespace XDit.Tests.Pipelines.Options;

/// <summary>
/// PixArt's resolution binning against diffusers' PixArtSigmaPipeline: pipe_pixart_sigma with sample_size 32 (the
/// 256-px table; the fixture's own 8 has none) asked for 26×40 generates at the bin 208×304 and resizes and crops
/// the picture back to 26×40. Also diffusers' four tables and its choice for a list of sizes (ties included), and
/// resize_and_crop_tensor alone.
/// </summary>
public sealed class PixArtBinningReferenceTests(ITestOutputHelper output)
{
    /// <summary>A copy of pipe_pixart_sigma whose transformer config says sample_size 32 (nothing else changes:
    /// PixArt reads sample_size only for its position-embedding base size, the same at 8 and 32).</summary>
    static readonly Lazy<string> Folder32 = new(() =>
    {
        var dir = TestPaths.TempDir();
        var src = TestPaths.Fixture("pipe_pixart_sigma");
        foreach (var file in Directory.EnumerateFiles(src, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(dir, Path.GetRelativePath(src, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);   // follows the tokenizer's link
        }
        var configPath = Path.Combine(dir, "transformer", "config.json");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!;
        config["sample_size"] = 32;
        File.WriteAllText(configPath, config.ToJsonString());
        return dir;
    });

    static GenerationRequest Request() => new()
    {
        Prompts = ["a red fox in the snow"],
        NumInferenceSteps = 3,
        GuidanceScale = 4.5f,
        Height = 26,
        Width = 40,
        MaxSequenceLength = 16,
        Latents = OptionCases.Tensor("pixart_binning.in_latents"),
    };

    [Fact]
    public void TheBinnedPictureMatchesDiffusers()
    {
        var c = OptionCases.Case("pixart_binning");
        Assert.Equal((26, 40), (c.GetProperty("height").GetInt32(), c.GetProperty("width").GetInt32()));
        using var pipeline = (PixArtPipeline)PipelineLoader.Load(Folder32.Value);
        Assert.Equal((208, 304), pipeline.GenerationSize(Request()));
        var result = pipeline.Generate(Request());
        Assert.Equal((26, 40), (result.Height, result.Width));
        var image = result.Images[0];
        Assert.Equal((26, 40), (image.Height, image.Width));
        double err = Numerics.RelativeError(image.Pixels, OptionCases.Tensor("pixart_binning.images"));
        output.WriteLine($"pixart_binning: relative error against diffusers {err:E2}");
        Assert.True(err < 1e-4, $"the binned picture differs from diffusers' by {err:E2} relative");
    }

    [Fact]
    public void BinningOffGeneratesAtTheAskedSizeWhichMustThenFitThePatches()
    {
        using var pipeline = (PixArtPipeline)PipelineLoader.Load(Folder32.Value);
        Assert.Equal((26, 40), pipeline.GenerationSize(Request() with { UseResolutionBinning = false }));
        var e = Assert.ThrowsAny<ArgumentException>(() => pipeline.Generate(Request() with { UseResolutionBinning = false }));
        Assert.Contains("multiples of 16", e.Message);
        var square = pipeline.Generate(Request() with { UseResolutionBinning = false, Height = 32, Width = 48, Latents = null });
        Assert.Equal((32, 48), (square.Images[0].Height, square.Images[0].Width));
    }

    /// <summary>The tiny fixture's sample_size 8 has no table: binning left to its default is off (so the fixture
    /// draws as before); asked for explicitly it is refused, as diffusers refuses it.</summary>
    [Fact]
    public void AModelWithoutATableIsNotBinnedUnlessAskedAndThenRefused()
    {
        using var pipeline = (PixArtPipeline)PipelineLoader.Load(TestPaths.Fixture("pipe_pixart_sigma"));
        var request = Request() with { Height = 64, Width = 48, Latents = null };
        Assert.Equal((64, 48), pipeline.GenerationSize(request));
        var e = Assert.ThrowsAny<ArgumentException>(() => pipeline.Generate(request with { UseResolutionBinning = true, NumInferenceSteps = 1 }));
        Assert.Contains("no aspect-ratio table for the transformer's sample_size 8", e.Message);
    }

    [Theory]
    [InlineData("256")]
    [InlineData("512")]
    [InlineData("1024")]
    [InlineData("2048")]
    [InlineData("4096")]   // SANA 4K (sample_size 128)
    public void TablesAndChoicesAreDiffusers(string resolution)
    {
        var bins = JsonDocument.Parse(File.ReadAllText(Path.Combine(OptionCases.Dir, "bins.json"))).RootElement.GetProperty(resolution);
        var want = bins.GetProperty("table").EnumerateArray().Select(e => new AspectRatioBins.Bin(e[0].GetDouble(), e[1].GetInt32(), e[2].GetInt32())).ToList();
        var table = AspectRatioBins.ForResolution(int.Parse(resolution))!;
        Assert.Equal(want, table);
        foreach (var choice in bins.GetProperty("choices").EnumerateArray())
        {
            var (h, w) = (choice[0].GetInt32(), choice[1].GetInt32());
            Assert.Equal((choice[2].GetInt32(), choice[3].GetInt32()), AspectRatioBins.Classify(h, w, table));
        }
    }

    [Fact]
    public void SampleSizesPickTheirTablesAsDiffusers()
    {
        Assert.Same(AspectRatioBins.ForResolution(256), AspectRatioBins.ForSampleSize(32, isSigma: false));
        Assert.Equal(512, AspectRatioBins.ForSampleSize(64, isSigma: true)![18].Height);
        Assert.Equal(1024, AspectRatioBins.ForSampleSize(128, isSigma: false)![18].Height);
        Assert.Equal(2048, AspectRatioBins.ForSampleSize(256, isSigma: true)![20].Height);
        Assert.Null(AspectRatioBins.ForSampleSize(256, isSigma: false));   // PixArt-α has no 2048 table
        Assert.Null(AspectRatioBins.ForSampleSize(8, isSigma: true));
    }

    [Theory]
    [InlineData(7, 9)]
    [InlineData(23, 17)]
    public void ResizeAndCropIsDiffusers(int height, int width)
    {
        var got = ImageResize.ResizeAndCrop(OptionCases.Tensor("resize.in"), 1, 10, 14, height, width);
        var want = OptionCases.Tensor($"resize.out_{height}x{width}");
        output.WriteLine($"resize to {height}x{width}: max abs error against diffusers {Numerics.MaxAbsError(got, want):E2}");
        Assert.True(Numerics.MaxAbsError(got, want) < 1e-5, $"resize to {height}x{width}: max abs error {Numerics.MaxAbsError(got, want):E2}");
    }
}
