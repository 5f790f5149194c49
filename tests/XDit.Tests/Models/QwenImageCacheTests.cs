using XDit.Engine.Caches;
using XDit.Engine.Execution;
using XDit.Kernels.Cpu;

namespace XDit.Tests.Models;

/// <summary>
/// The step caches on Qwen-Image (a joint text stream the blocks rewrite, the text key bias in the state): at threshold
/// 0 every step equals the plain forward bit for bit; inputs that repeat exactly are skipped (the first-block cache
/// on block 0's residual, TeaCache on block 0's modulated input) and still give the plain output.
/// </summary>
public class QwenImageCacheTests
{
    [Fact]
    public void AtThresholdZeroEveryStepEqualsThePlainForwardExactly()
    {
        var f = QwenImageTestInputs.Load("qwenimage_shapes");
        using var ops = new CpuOps();
        using var model = f.LoadModel(ops);
        const int steps = 3;
        using var fb = new FirstBlockCacheExecutor(0);
        using var tea = new TeaCacheExecutor(0, steps);
        for (int t = 0; t < steps; t++)
        {
            var inputs = f.Scaled(1f - 0.2f * t, 1f - 0.1f * t);
            var plain = inputs.Predict(ops, model, SingleRankExecutor.Instance, t);
            Assert.Equal(plain, inputs.Predict(ops, model, fb, t));
            Assert.Equal(plain, inputs.Predict(ops, model, tea, t));
        }
        Assert.Equal((steps, 0), (fb.Stats.Computed, fb.Stats.Skipped));
        Assert.Equal((steps, 0), (tea.Stats.Computed, tea.Stats.Skipped));
    }

    [Fact]
    public void RepeatedInputsAreSkippedAndGiveThePlainOutput()
    {
        var a = QwenImageTestInputs.Load("qwenimage");
        var b = a.Scaled(-1.3f, 0.4f);
        QwenImageTestInputs[] sequence = [a, a, b, b, b];
        using var ops = new CpuOps();
        using var model = a.LoadModel(ops);
        using var fb = new FirstBlockCacheExecutor(0.05);
        using var tea = new TeaCacheExecutor(0.3, sequence.Length);
        for (int t = 0; t < sequence.Length; t++)
        {
            var plain = sequence[t].Predict(ops, model, SingleRankExecutor.Instance, t);
            foreach (var (name, executor) in new (string, IDenoiseExecutor)[] { ("fbcache", fb), ("teacache", tea) })
            {
                double err = Numerics.RelativeError(sequence[t].Predict(ops, model, executor, t), plain);
                Assert.True(err < 1e-5, $"{name} step {t}: relative error {err:E2} against the plain forward");
            }
        }
        Assert.Equal([1, 3, 4], fb.Stats.SkippedSteps);
        Assert.Equal([1, 3], tea.Stats.SkippedSteps);
    }
}
