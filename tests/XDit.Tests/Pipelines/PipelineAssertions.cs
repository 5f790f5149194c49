using XDit.Engine.Pipelines;

namespace XDit.Tests.Pipelines;

/// <summary>End-to-end checks that hold for every text-to-image pipeline, written once for the SD3 and Flux tests.</summary>
static class PipelineAssertions
{
    /// <summary>Every image has the asked size, pixels in [0, 1], and is not flat.</summary>
    public static void ImagesOfSizeInZeroOne(GenerationResult result, int height, int width)
    {
        foreach (var image in result.Images)
        {
            Assert.Equal((height, width), (image.Height, image.Width));
            Assert.All(image.Pixels, v => Assert.InRange(v, 0f, 1f));
            Assert.True(image.Pixels.Max() - image.Pixels.Min() > 1e-3, "the image is flat");
        }
    }

    /// <summary>Seed 5 twice gives the same first image, seed 6 another.</summary>
    public static void SameSeedSameImageAnotherSeedAnother(TextToImagePipeline pipeline, GenerationRequest request)
    {
        var a = pipeline.Generate(request with { Seed = 5 }).Images[0].Pixels;
        var b = pipeline.Generate(request with { Seed = 5 }).Images[0].Pixels;
        var c = pipeline.Generate(request with { Seed = 6 }).Images[0].Pixels;
        Assert.Equal(a, b);
        Assert.True(Numerics.MaxAbsError(a, c) > 1e-3);
    }

    /// <summary>Deleting <paramref name="component"/> from the folder makes loading fail with a message that names it.</summary>
    public static void MissingComponentIsNamed(string dir, string component)
    {
        Directory.Delete(Path.Combine(dir, component), recursive: true);
        var e = Assert.Throws<DirectoryNotFoundException>(() => PipelineLoader.Load(dir));
        Assert.Contains($"'{component}'", e.Message);
    }
}
