using XDit.Engine.Caches;
using XDit.Engine.Execution;
using XDit.Engine.Verify;
using XDit.Kernels;
using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Models.Ltx;
using XDit.Runtime;

namespace XDit.Tests.Models;

/// <summary>
/// The step caches on LTX-Video (packed video tokens, its RMSNorm-modulated indicator, TeaCache4LTX-Video's
/// coefficients): at threshold 0 every step equals the plain forward exactly; with inputs A, A, B, B, B the repeated
/// steps are skipped (first-block cache: 1, 3, 4; TeaCache: 1, 3, the last step always computing) and still give the
/// plain output.
/// </summary>
public class LtxStepCacheTests
{
    const string Fixture = "ltx_shapes";

    static float[] Predict(IOps ops, DiffusionTransformer model, IDenoiseExecutor executor, int step, float hiddenScale, float timeScale)
    {
        using var fx = new FixtureCase(TestPaths.Fixture(Fixture));
        using var up = new FixtureUploads(fx, ops);
        using var x = ops.Scale(up["hidden_states"], hiddenScale);
        var inputs = new DitInputs
        {
            HiddenStates = x, EncoderHiddenStates = up["encoder_hidden_states"], EncoderAttentionMask = up["encoder_attention_mask"],
            Timestep = fx.InputFloats("timestep").Select(t => t * timeScale).ToArray(),
            ImgShape = (3, 2, 5), RopeInterpolationScale = LtxFixtureRunner.RopeInterpolationScale(fx),
        };
        using var y = executor.Predict(ops, model, inputs, step);
        return ops.ToHost(y);
    }

    [Fact]
    public void TeaCacheTakesLtxVideosCoefficients()
    {
        using var ops = new CpuOps();
        using var model = LtxTransformer.Load(TestPaths.Fixture(Fixture), ops);
        Assert.Same(TeaCacheCoefficients.Ltx, TeaCacheCoefficients.For(model));
        Assert.Equal(2.14700694e+01 * 1e-4 - 1.28016453e+01 * 1e-3 + 2.31279151 * 1e-2 + 7.92487521e-01 * 0.1 + 9.69274326e-03, TeaCacheCoefficients.Ltx.Rescale(0.1), 9);
    }

    [Fact]
    public void AtThresholdZeroEveryStepEqualsThePlainForwardExactly()
    {
        using var ops = new CpuOps();
        using var model = LtxTransformer.Load(TestPaths.Fixture(Fixture), ops);
        const int steps = 3;
        using var fb = new FirstBlockCacheExecutor(0);
        using var tea = new TeaCacheExecutor(0, steps);
        for (int t = 0; t < steps; t++)
        {
            float hs = 1f - 0.2f * t, ts = 1f - 0.1f * t;
            var plain = Predict(ops, model, SingleRankExecutor.Instance, t, hs, ts);
            Assert.Equal(plain, Predict(ops, model, fb, t, hs, ts));
            Assert.Equal(plain, Predict(ops, model, tea, t, hs, ts));
        }
        Assert.Equal((steps, 0), (fb.Stats.Computed, fb.Stats.Skipped));
        Assert.Equal((steps, 0), (tea.Stats.Computed, tea.Stats.Skipped));
    }

    [Fact]
    public void RepeatedInputsAreSkippedAndGiveThePlainOutput()
    {
        using var ops = new CpuOps();
        using var model = LtxTransformer.Load(TestPaths.Fixture(Fixture), ops);
        (float Hidden, float Time)[] sequence = [(1f, 1f), (1f, 1f), (-1.3f, 0.4f), (-1.3f, 0.4f), (-1.3f, 0.4f)];
        using var fb = new FirstBlockCacheExecutor(0.05);
        // TeaCache4LTX-Video's polynomial is 0.0097 at no change (its constant term): a threshold of 0.015 skips one
        // unchanged step after a computed one, and the change from A to B computes
        using var tea = new TeaCacheExecutor(0.015, sequence.Length);
        for (int t = 0; t < sequence.Length; t++)
        {
            var (hs, ts) = sequence[t];
            var plain = Predict(ops, model, SingleRankExecutor.Instance, t, hs, ts);
            foreach (var (name, executor) in new (string, IDenoiseExecutor)[] { ("fbcache", fb), ("teacache", tea) })
            {
                double err = Numerics.RelativeError(Predict(ops, model, executor, t, hs, ts), plain);
                Assert.True(err < 1e-5, $"{name} step {t}: relative error {err:E2} against the plain forward");
            }
        }
        Assert.Equal([0, 2], fb.Stats.ComputedSteps);
        Assert.Equal([1, 3, 4], fb.Stats.SkippedSteps);
        Assert.Equal([0, 2, 4], tea.Stats.ComputedSteps);
        Assert.Equal([1, 3], tea.Stats.SkippedSteps);
    }
}
