using System.CommandLine;
using XDit.Cli.Commands;
using XDit.Engine.Pipelines;
using XDit.Runtime;
using XDit.Tests.Pipelines.Options;

namespace XDit.Tests.Cli;

/// <summary>`xdit generate`'s diffusers call options: each flag lands in its GenerationRequest field, malformed values
/// are refused naming the flag, and a run with SD3's flags draws the picture the library draws for that request.</summary>
[Collection("Console")]
public class PipelineCallOptionsTests
{
    static GenerationRequest Parse(params string[] args)
    {
        var options = new PipelineCallOptions();
        var root = new RootCommand();
        foreach (var o in options.All) root.Options.Add(o);
        var parse = root.Parse(args);
        Assert.Empty(parse.Errors);
        return options.Apply(parse, new GenerationRequest { Prompts = ["a", "b"] });
    }

    [Fact]
    public void EachFlagSetsItsField()
    {
        var r = Parse("--prompt-2", "x", "--prompt-3", "y1", "--prompt-3", "y2", "--negative-prompt-2", "n2", "--negative-prompt-3", "n3",
            "--clip-skip", "2", "--skip-guidance-layers", "7,8, 9", "--skip-layer-guidance-scale", "3.5", "--skip-layer-guidance-start", "0.05",
            "--skip-layer-guidance-stop", "0.8", "--true-cfg-scale", "4", "--no-resolution-binning");
        Assert.Equal(["x", "x"], r.Prompts2);          // one text for all prompts
        Assert.Equal(["y1", "y2"], r.Prompts3);        // or one per prompt
        Assert.Equal(("n2", "n3", 2), (r.NegativePrompt2, r.NegativePrompt3, r.ClipSkip));
        Assert.Equal([7, 8, 9], r.SkipGuidanceLayers);
        Assert.Equal((3.5f, 0.05, 0.8), (r.SkipLayerGuidanceScale, r.SkipLayerGuidanceStart, r.SkipLayerGuidanceStop));
        Assert.Equal(4f, r.TrueCfgScale);
        Assert.False(r.UseResolutionBinning);
    }

    [Fact]
    public void WithoutFlagsTheRequestKeepsDiffusersDefaults()
    {
        var r = Parse();
        Assert.Null(r.Prompts2);
        Assert.Null(r.SkipGuidanceLayers);
        Assert.Equal((2.8f, 0.01, 0.2), (r.SkipLayerGuidanceScale, r.SkipLayerGuidanceStart, r.SkipLayerGuidanceStop));
        Assert.Null(r.TrueCfgScale);
        Assert.Null(r.UseResolutionBinning);   // PixArt bins where the model has a table
    }

    [Theory]
    [InlineData("--skip-guidance-layers: '7a' is not a block index", "--skip-guidance-layers", "7a,8")]
    [InlineData("--skip-layer-guidance-scale, -start and -stop need --skip-guidance-layers", "--skip-layer-guidance-scale", "3")]
    [InlineData("--prompt-2 is given 3 times for 2 prompts", "--prompt-2", "x", "--prompt-2", "y", "--prompt-2", "z")]
    public void MalformedValuesAreRefusedNamingTheFlag(string message, params string[] args)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => Parse(args));
        Assert.Contains(message, e.Message);
    }

    /// <summary>SD3's flags through the whole command: the PNG is the library's picture for the same request.</summary>
    [Fact]
    public void GenerateWithSD3FlagsDrawsTheLibrarysPicture()
    {
        var dir = TestPaths.Fixture("pipe_sd3");
        var temp = TestPaths.TempDir();
        var latents = OptionCases.FirstRow("pipe_sd3", "in.latents");
        var latentsFile = Path.Combine(temp, "latents.safetensors");
        using (var t = Tensor.FromArray(latents, 1, 16, 8, 8))
            SafetensorsWriter.Write(latentsFile, [new("latents", t)]);
        var output = Path.Combine(temp, "out.png");
        var (code, stdout, stderr) = CliRunner.Xdit("generate", "--model", dir, "-p", "a red fox in the snow", "--prompt-2", "a blue bird on a wire",
            "--prompt-3", "an old oak tree at dusk", "--negative-prompt", "ugly", "--negative-prompt-3", "blurry", "--clip-skip", "1",
            "--skip-guidance-layers", "1", "--skip-layer-guidance-scale", "3.5", "--skip-layer-guidance-start", "0.2", "--skip-layer-guidance-stop", "0.8",
            "--steps", "5", "--guidance-scale", "4.5", "--height", "64", "--width", "64", "--max-sequence-length", "16",
            "--latents", latentsFile, "-o", output, "--quiet");
        Assert.True(code == 0, stderr + stdout);

        using var pipeline = PipelineLoader.Load(dir);
        var want = pipeline.Generate(new GenerationRequest
        {
            Prompts = ["a red fox in the snow"], Prompts2 = ["a blue bird on a wire"], Prompts3 = ["an old oak tree at dusk"],
            NegativePrompt = "ugly", NegativePrompt3 = "blurry", ClipSkip = 1,
            SkipGuidanceLayers = [1], SkipLayerGuidanceScale = 3.5f, SkipLayerGuidanceStart = 0.2, SkipLayerGuidanceStop = 0.8,
            NumInferenceSteps = 5, GuidanceScale = 4.5f, Height = 64, Width = 64, MaxSequenceLength = 16, Latents = latents,
        }).Images[0];
        var png = PngPixels.ReadRgb(output, out int w, out int h);
        Assert.Equal((64, 64), (w, h));
        int worst = 0;
        for (int p = 0; p < w * h; p++)
            for (int c = 0; c < 3; c++)
                worst = Math.Max(worst, Math.Abs(png[p * 3 + c] - (int)MathF.Round(want.Pixels[c * w * h + p] * 255f)));
        Assert.True(worst <= 1, $"the command's picture differs from the library's by {worst} levels");
    }
}
