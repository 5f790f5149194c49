using XDit.Engine.Caches;
using XDit.Engine.Execution;
using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Runtime;
using XDit.Tests.Parallel;

namespace XDit.Tests.Caches;

/// <summary>
/// The step caches on fixture models (PixArt: cross-attention, caption untouched by the blocks; Flux: joint text
/// stream, double then single blocks; SD3: the last block drops the text; HunyuanDiT: long skips, which skipped
/// blocks must still keep and join; CogVideoX: video latents [B, F, C, H, W], a joint text stream; HunyuanVideo:
/// video latents [B, C, F, H, W], a joint text stream cut to its kept tokens; LTX-Video: packed video tokens, its
/// RMSNorm-modulated indicator and TeaCache4LTX-Video's coefficients; Qwen-Image: a joint text stream the blocks
/// rewrite, the text key bias in the state) over a few synthetic steps whose inputs change: at threshold 0 every output equals the plain forward bit for bit; with inputs that repeat exactly, the
/// repeated steps (and only they) are skipped and still give the plain output (the residual is exact there).
/// </summary>
public class StepCacheFixtureTests
{
    /// <summary>Step t of a smooth trajectory: hidden states scaled by 1 − 0.2·t, timesteps by 1 − 0.1·t.</summary>
    static FixtureInputs Trajectory(FixtureInputs f, int t) => f.Scaled(1f - 0.2f * t, 1f - 0.1f * t);

    [Theory]
    [InlineData("pixart_alpha")]
    [InlineData("flux")]
    [InlineData("sd3")]
    [InlineData("hunyuandit")]
    [InlineData(TinyHunyuanDiT.Name)]
    [InlineData("cogvideox_2b")]
    [InlineData("cogvideox15")]
    [InlineData("wan")]
    [InlineData("hunyuanvideo_i2v")]
    [InlineData("ltx_shapes")]
    [InlineData("qwenimage_shapes")]
    public void AtThresholdZeroEveryStepEqualsThePlainForwardExactly(string fixture)
    {
        var f = FixtureInputs.Load(fixture);
        using var ops = new CpuOps();
        using var model = f.LoadModel(ops);
        const int steps = 4;
        using var fb = new FirstBlockCacheExecutor(0);
        using var tea = new TeaCacheExecutor(0, steps);
        for (int t = 0; t < steps; t++)
        {
            var inputs = Trajectory(f, t);
            var plain = inputs.Predict(ops, model, SingleRankExecutor.Instance, t);
            Assert.Equal(plain, inputs.Predict(ops, model, fb, t));
            Assert.Equal(plain, inputs.Predict(ops, model, tea, t));
        }
        Assert.Equal(steps, fb.Stats.Computed);
        Assert.Equal(0, fb.Stats.Skipped);
        Assert.Equal(steps, tea.Stats.Computed);
        Assert.Equal(0, tea.Stats.Skipped);
    }

    /// <summary>Inputs A, A, B, B, B (B far from A): the first-block cache skips steps 1, 3, 4 (block 0's residual
    /// is unchanged there); TeaCache skips 1 and 3 (step 4 is the last, always computed). Skipped steps return the
    /// plain output up to rounding (h1 + (h − h1)).</summary>
    [Theory]
    [InlineData("pixart_alpha", 0.3)]
    [InlineData("flux", 0.3)]
    [InlineData("sd3", 0.3)]
    [InlineData("hunyuandit", 0.3)]
    [InlineData("cogvideox_2b", 0.3)]
    [InlineData("wan", 0.3)]
    [InlineData("hunyuanvideo_i2v", 0.3)]
    // TeaCache4LTX-Video's polynomial is 0.0097 at no change (its constant term): 0.015 skips one unchanged step after
    // a computed one, and the change from A to B computes
    [InlineData("ltx_shapes", 0.015)]
    [InlineData("qwenimage", 0.3)]
    public void RepeatedInputsAreSkippedAndGiveThePlainOutput(string fixture, double teaThreshold)
    {
        var f = FixtureInputs.Load(fixture);
        var a = f;
        var b = f.Scaled(-1.3f, 0.4f);
        FixtureInputs[] sequence = [a, a, b, b, b];
        using var ops = new CpuOps();
        using var model = f.LoadModel(ops);
        // 0.3: above the Flux polynomial's value at rel = 0 (0.264): one repeat accumulates 0.264, two 0.528.
        using var fb = new FirstBlockCacheExecutor(0.05);
        using var tea = new TeaCacheExecutor(teaThreshold, sequence.Length);
        for (int t = 0; t < sequence.Length; t++)
        {
            var plain = sequence[t].Predict(ops, model, SingleRankExecutor.Instance, t);
            foreach (var (name, executor) in new (string, IDenoiseExecutor)[] { ("fbcache", fb), ("teacache", tea) })
            {
                var got = sequence[t].Predict(ops, model, executor, t);
                double err = Numerics.RelativeError(got, plain);
                Assert.True(err < 1e-5, $"{fixture} {name} step {t}: relative error {err:E2} against the plain forward");
            }
        }
        Assert.Equal([0, 2], fb.Stats.ComputedSteps);
        Assert.Equal([1, 3, 4], fb.Stats.SkippedSteps);
        Assert.Equal([0, 2, 4], tea.Stats.ComputedSteps);
        Assert.Equal([1, 3], tea.Stats.SkippedSteps);
    }

    [Fact]
    public void ChangedInputsAreNotSkippedAtASmallThreshold()
    {
        var f = FixtureInputs.Load("pixart_alpha");
        using var ops = new CpuOps();
        using var model = f.LoadModel(ops);
        using var fb = new FirstBlockCacheExecutor(1e-4);
        using var tea = new TeaCacheExecutor(1e-4, 4);
        for (int t = 0; t < 4; t++)
        {
            Trajectory(f, t).Predict(ops, model, fb, t);
            Trajectory(f, t).Predict(ops, model, tea, t);
        }
        Assert.Equal(0, fb.Stats.Skipped);
        Assert.Equal(0, tea.Stats.Skipped);
        Assert.All(fb.Stats.Indicators.Skip(1), v => Assert.True(v > 1e-4, $"first-block change {v}"));
    }

    [Fact]
    public void BadThresholdsAndStepsAreRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new FirstBlockCacheExecutor(-0.1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FirstBlockCacheExecutor(double.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TeaCacheExecutor(0.1, 0));
        var f = FixtureInputs.Load("pixart_alpha");
        using var ops = new CpuOps();
        using var model = f.LoadModel(ops);
        using var tea = new TeaCacheExecutor(0.1, 2);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => f.Predict(ops, model, tea, 2));
        Assert.Contains("2 steps", e.Message);
    }

    [Fact]
    public void FluxAndHunyuanVideoUseTheirPublishedPolynomialsAndOthersTheIdentity()
    {
        Assert.Equal(0.264230861, TeaCacheCoefficients.Flux.Rescale(0), 9);
        Assert.Equal(4.98651651e+02 * 1e-4 - 2.83781631e+02 * 1e-3 + 5.58554382e+01 * 1e-2 - 3.82021401e+00 * 0.1 + 2.64230861e-01, TeaCacheCoefficients.Flux.Rescale(0.1), 9);
        Assert.Equal(0.37, TeaCacheCoefficients.Identity.Rescale(0.37), 12);
        // HunyuanVideo's published fit (methods.md §5) at rel 0.1
        Assert.Equal(7.33226126e+02 * 1e-4 - 4.01131952e+02 * 1e-3 + 6.75869174e+01 * 1e-2 - 3.14987800 * 0.1 + 9.61237896e-02, TeaCacheCoefficients.HunyuanVideo.Rescale(0.1), 9);
        using var ops = new CpuOps();
        using var hunyuan = XDit.Models.HunyuanVideo.HunyuanVideoTransformer.Load(TestPaths.Fixture("hunyuanvideo"), ops);
        Assert.Same(TeaCacheCoefficients.HunyuanVideo, TeaCacheCoefficients.For(hunyuan));
        using var pixart = FixtureInputs.Load("pixart_alpha").LoadModel(ops);
        Assert.Same(TeaCacheCoefficients.Identity, TeaCacheCoefficients.For(pixart));
    }
}
