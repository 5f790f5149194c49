using XDit.Engine.Pipelines;

namespace XDit.Tests.Pipelines;

/// <summary>Options that only one pipeline runs (Flux's true CFG, HunyuanDiT's guidance rescale, SANA Sprint's TrigFlow
/// angles) are refused by every
/// other pipeline before any step, naming the option, rather than silently ignored.</summary>
public class ForeignOptionTests
{
    [Theory]
    [InlineData("true_cfg", "true_cfg_scale is a Flux and Qwen-Image option; PixArtPipeline guides with guidance_scale")]
    [InlineData("rescale", "guidance_rescale 0.7: PixArtPipeline has no guidance rescale")]
    [InlineData("angles", "max_timesteps and intermediate_timesteps are SANA Sprint's options; PixArtPipeline has no TrigFlow schedule")]
    [InlineData("strength", "strength (--strength) is the image-to-image option of SD3, Flux and SDXL; PixArtPipeline does not take it")]
    [InlineData("max_area", "max_area and auto_resize (--max-area, --no-auto-resize) are Flux Kontext's; PixArtPipeline does not take them")]
    public void AnotherPipelinesOptionIsRefusedBeforeAnyStep(string option, string message)
    {
        using var pipeline = PipelineLoader.Load(TestPaths.DemoModel);
        int progress = 0;
        pipeline.Progress += (_, _) => progress++;
        var request = GenerationRequest.For("a red circle") with { NumInferenceSteps = 2 };
        request = option switch
        {
            "true_cfg" => request with { TrueCfgScale = 4f, NegativePrompt = "x" },
            "rescale" => request with { GuidanceRescale = 0.7f },
            "strength" => request with { Strength = 0.5 },
            "max_area" => request with { MaxArea = 4096 },
            _ => request with { IntermediateTimesteps = 1.1 },
        };
        var e = Assert.Throws<ArgumentException>(() => pipeline.Generate(request));
        Assert.Contains(message, e.Message);
        Assert.Equal(0, progress);
    }
}
