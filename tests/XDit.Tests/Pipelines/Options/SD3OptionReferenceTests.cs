using XDit.Engine.Pipelines;

namespace XDit.Tests.Pipelines.Options;

/// <summary>
/// SD3's call options against diffusers' StableDiffusion3Pipeline on pipe_sd3 (final latents, float32 on the CPU):
/// prompt_2/prompt_3 with all three negatives, clip_skip (the prompt only, never the negative), SD3.5's skip-layer
/// guidance with its default window (10 steps: step 1 only) and a wider one with another scale, and
/// max_sequence_length 512 with a prompt longer than CLIP's 77 and T5's 512 tokens. Each option moves the latents
/// by 1.4e-2 (the default skip-layer window) to 0.83 relative, far above the 1e-4 the comparison allows.
/// </summary>
public sealed class SD3OptionReferenceTests(SD3OptionReferenceTests.Pipeline fixture, ITestOutputHelper output) : IClassFixture<SD3OptionReferenceTests.Pipeline>
{
    public sealed class Pipeline : IDisposable
    {
        public SD3Pipeline Value { get; } = (SD3Pipeline)PipelineLoader.Load(TestPaths.Fixture("pipe_sd3"));
        public void Dispose() => Value.Dispose();
    }

    [Theory]
    [InlineData("sd3_prompts")]
    [InlineData("sd3_clip_skip")]
    [InlineData("sd3_slg")]
    [InlineData("sd3_slg_window")]
    [InlineData("sd3_long")]
    public void FinalLatentsMatchDiffusers(string name)
    {
        var request = OptionCases.Request(OptionCases.Case(name), OptionCases.FirstRow("pipe_sd3", "in.latents"));
        var got = OptionCases.FinalLatents(fixture.Value, request);
        var want = OptionCases.Tensor($"{name}.latents");
        double err = Numerics.RelativeError(got, want);
        output.WriteLine($"{name}: relative error against diffusers {err:E2}");
        Assert.True(err < 1e-4, $"{name}: final latents differ from diffusers' by {err:E2} relative");
    }

    [Fact]
    public void ClipSkipBeyondTheEncoderIsRefusedNamingTheLayers()
    {
        var request = OptionCases.Request(OptionCases.Case("sd3_clip_skip"), OptionCases.FirstRow("pipe_sd3", "in.latents")) with { ClipSkip = 3 };
        var e = Assert.ThrowsAny<ArgumentException>(() => fixture.Value.Generate(request));
        Assert.Contains("clip_skip 3 is outside 0..2", e.Message);
    }

    [Fact]
    public void SkipGuidanceLayersOutsideTheTransformerAreRefused()
    {
        var request = OptionCases.Request(OptionCases.Case("sd3_slg"), OptionCases.FirstRow("pipe_sd3", "in.latents")) with { SkipGuidanceLayers = [1, 2] };
        var e = Assert.ThrowsAny<ArgumentException>(() => fixture.Value.Generate(request));
        Assert.Contains("block(s) 2; the transformer has blocks 0..1", e.Message);
    }

    /// <summary>Without guidance diffusers never runs the skip-layer pass: the latents are those of the plain run,
    /// and a warning says so.</summary>
    [Fact]
    public void SkipLayerGuidanceWithoutGuidanceChangesNothingAndWarns()
    {
        var baseRequest = OptionCases.Request(OptionCases.Case("sd3_slg_window"), OptionCases.FirstRow("pipe_sd3", "in.latents")) with { GuidanceScale = 1f };
        var plain = OptionCases.FinalLatents(fixture.Value, baseRequest with { SkipGuidanceLayers = null });
        var warnings = new List<string>();
        EventHandler<string> onWarning = (_, w) => warnings.Add(w);
        fixture.Value.Warning += onWarning;
        try
        {
            var slg = OptionCases.FinalLatents(fixture.Value, baseRequest);
            Assert.Equal(plain, slg);
        }
        finally { fixture.Value.Warning -= onWarning; }
        Assert.Contains(warnings, w => w.Contains("skip-layer guidance needs classifier-free guidance"));
    }

    /// <summary>A prompt past CLIP's 77 and T5's max_sequence_length tokens is cut, with diffusers' warning: for CLIP
    /// the very text diffusers logs (its batch_decode of the removed tokens); for T5 the tokens really removed
    /// (diffusers slices T5's ids from CLIP's 77 instead).</summary>
    [Fact]
    public void TruncationWarnsWithTheRemovedText()
    {
        var request = OptionCases.Request(OptionCases.Case("sd3_long"), OptionCases.FirstRow("pipe_sd3", "in.latents")) with { MaxSequenceLength = 16, NumInferenceSteps = 1 };
        var warnings = new List<string>();
        EventHandler<string> onWarning = (_, w) => warnings.Add(w);
        fixture.Value.Warning += onWarning;
        try { fixture.Value.Generate(request); }
        finally { fixture.Value.Warning -= onWarning; }
        Assert.Contains(warnings, w => w.StartsWith("The following part of your input was truncated because CLIP can only handle sequences up to 77 tokens: ['1 , a blue fox number 1 2 , a yellow cat number 1 3 ,", StringComparison.Ordinal));
        // T5 keeps 15 content tokens ("a painting of a red fox number 0, a green cat number 1, a ..."): the cut is in item 2
        Assert.Contains(warnings, w => w.StartsWith("The following part of your input was truncated because `max_sequence_length` is set to 16 tokens: ['", StringComparison.Ordinal)
            && w.EndsWith("a golden flower number 129']", StringComparison.Ordinal));
    }
}
