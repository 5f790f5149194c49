using XDit.Engine.Pipelines;

namespace XDit.Tests.Pipelines.Options;

/// <summary>
/// Flux's call options against diffusers' FluxPipeline on pipe_flux (final packed latents): true CFG (negative
/// prompt with true_cfg_scale 4: a second pass on the negative, noise = neg + s·(pos − neg); it moves the latents by
/// 0.47 relative) and max_sequence_length 512 with a prompt longer than 512 T5 tokens (0.25 against 16 tokens).
/// </summary>
public sealed class FluxOptionReferenceTests(FluxOptionReferenceTests.Pipeline fixture, ITestOutputHelper output) : IClassFixture<FluxOptionReferenceTests.Pipeline>
{
    public sealed class Pipeline : IDisposable
    {
        public FluxPipeline Value { get; } = (FluxPipeline)PipelineLoader.Load(TestPaths.Fixture("pipe_flux"));
        public void Dispose() => Value.Dispose();
    }

    static GenerationRequest Request(string name)
        => OptionCases.Request(OptionCases.Case(name), OptionCases.FirstRow("pipe_flux", "in.latents_unpacked"));

    [Theory]
    [InlineData("flux_true_cfg")]
    [InlineData("flux_long")]
    public void FinalLatentsMatchDiffusers(string name)
    {
        var got = OptionCases.FinalLatents(fixture.Value, Request(name));
        var want = OptionCases.Tensor($"{name}.latents");
        double err = Numerics.RelativeError(got, want);
        output.WriteLine($"{name}: relative error against diffusers {err:E2}");
        Assert.True(err < 1e-4, $"{name}: final latents differ from diffusers' by {err:E2} relative");
    }

    /// <summary>diffusers' do_true_cfg = true_cfg_scale &gt; 1 and a negative prompt given: either missing leaves the
    /// plain run (and a scale without a negative prompt is warned about).</summary>
    [Fact]
    public void TrueCfgNeedsBothAScaleAboveOneAndANegativePrompt()
    {
        var request = Request("flux_true_cfg");
        var plain = OptionCases.FinalLatents(fixture.Value, request with { TrueCfgScale = null, NegativePrompt = null });
        Assert.Equal(plain, OptionCases.FinalLatents(fixture.Value, request with { TrueCfgScale = 1f }));
        var warnings = new List<string>();
        EventHandler<string> onWarning = (_, w) => warnings.Add(w);
        fixture.Value.Warning += onWarning;
        try { Assert.Equal(plain, OptionCases.FinalLatents(fixture.Value, request with { NegativePrompt = null })); }
        finally { fixture.Value.Warning -= onWarning; }
        Assert.Contains(warnings, w => w.Contains("true_cfg_scale 4 needs a negative prompt"));
    }

    [Fact]
    public void SD3OptionsAreRefusedNotIgnored()
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => fixture.Value.Generate(Request("flux_true_cfg") with { ClipSkip = 1, Prompts3 = ["x"] }));
        Assert.Contains("prompt_3, clip_skip: SD3 options, which Flux does not take", e.Message);
    }

    [Fact]
    public void AMaxSequenceLengthAbove512IsRefused()
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => fixture.Value.Generate(Request("flux_long") with { MaxSequenceLength = 513 }));
        Assert.Contains("513 is above 512", e.Message);
    }
}
