using XDit.Engine.FastAttn;
using XDit.Kernels;
using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Runtime;
using static XDit.Tests.Kernels.OpsTestKit;

namespace XDit.Tests.FastAttn;

/// <summary>
/// FastAttention on one synthetic self-attention module (random q/k/v/out projections, a [uncond; cond] batch of 2,
/// 20 tokens, 2 heads of 8), step by step against the same module computed by hand: each method, what it caches,
/// and that calibration's trial forwards leave the caches alone.
/// </summary>
public class FastAttentionTests
{
    const int B = 2, N = 20, H = 2, Hd = 8, D = H * Hd, W = 3;
    static readonly CpuOps Ops = new();
    static readonly Tensor Wq = Rand(1, 0.5f, D, D), Wk = Rand(2, 0.5f, D, D), Wv = Rand(3, D, D), Wo = Rand(4, D, D);

    static (Tensor, Tensor, Tensor) Project(IOps ops, Tensor x)
    {
        int b = x.Dim(0);
        return (ops.Linear(x, Wq).TakeReshaped(b, N, H, Hd), ops.Linear(x, Wk).TakeReshaped(b, N, H, Hd), ops.Linear(x, Wv).TakeReshaped(b, N, H, Hd));
    }

    static Tensor OutProject(IOps ops, Tensor o) => ops.Linear(o.Reshape(o.Dim(0), N, D), Wo);

    static SelfAttentionModuleCall Call(Tensor x) => new()
    {
        Layer = "transformer_blocks.0.attn1",
        Block = 0,
        Input = x,
        Project = Project,
        OutProject = OutProject,
    };

    /// <summary>The module by hand: attention output of rows [from, from + count) of x, full or windowed.</summary>
    static float[] Attention(Tensor x, int from, int count, bool window)
    {
        var (q, k, v) = Project(Ops, x.Slice(0, from, count));
        using (q) using (k) using (v)
        using (var o = Ops.Attention(q, k, v, window ? new AttentionOptions { Window = W } : null))
            return Ops.ToHost(o);
    }

    static float[] Out(float[] attention, int rows)
    {
        using var o = Tensor.FromArray(attention, rows, N, H, Hd);
        using var y = OutProject(Ops, o);
        return Ops.ToHost(y);
    }

    static float[] Sub(float[] a, float[] b) => a.Zip(b, (x, y) => x - y).ToArray();
    static float[] Add(float[] a, float[] b) => a.Zip(b, (x, y) => x + y).ToArray();
    static float[] Twice(float[] a) => a.Concat(a).ToArray();
    static float[] Half(float[] a, int which) => a.Skip(which * a.Length / 2).Take(a.Length / 2).ToArray();

    static void Close(float[] expected, float[] got, string what)
        => Assert.True(Numerics.RelativeError(got, expected) < 1e-5, $"{what}: relative error {Numerics.RelativeError(got, expected):E2}");

    [Fact]
    public void EachMethodComputesWhatItPromisesFromWhatEarlierStepsLeft()
    {
        var methods = new[]
        {
            FastAttnMethod.FullAttn, FastAttnMethod.OutputShare, FastAttnMethod.ResidualWindowAttn,
            FastAttnMethod.ResidualWindowAttnCfgShare, FastAttnMethod.FullAttnCfgShare, FastAttnMethod.OutputShare,
        };
        var plan = new FastAttnPlan(1, methods.Length);
        for (int s = 0; s < methods.Length; s++) plan[0, s] = methods[s];
        using var attention = new FastAttention(plan, W, cfg: true);
        var x = Enumerable.Range(0, methods.Length).Select(s => Rand(10 + s, B, N, D)).ToArray();
        float[] Step(int s)
        {
            attention.Step = s;
            using var y = attention.RunSelfAttention(Ops, Call(x[s]));
            return Ops.ToHost(y);
        }

        var full0 = Attention(x[0], 0, B, false);
        var y0 = Step(0);
        Close(Out(full0, B), y0, "step 0, full");
        var residual0 = Sub(full0, Attention(x[0], 0, B, true));
        Assert.Equal(y0, Step(1));   // output share: step 0's output exactly, whatever the input
        Close(Out(Add(Attention(x[2], 0, B, true), residual0), B), Step(2), "step 2, window + step 0's residual");
        // CFG share: the conditional half (the second) computed, with its half of the residual, and copied
        var cond3 = Out(Add(Attention(x[3], 1, 1, true), Half(residual0, 1)), 1);
        Close(Twice(cond3), Step(3), "step 3, window with CFG share");
        var y4 = Step(4);
        Close(Twice(Out(Attention(x[4], 1, 1, false), 1)), y4, "step 4, full with CFG share");
        Assert.Equal(y4, Step(5));   // step 4 kept its output: step 5 shares it

        var stats = attention.Stats;
        Assert.Equal(6, stats.LayerSteps);
        Assert.Equal(2, stats.Count(FastAttnMethod.OutputShare));
        // work: full 1 + its residual's window, window, half a window, half a full, 0 twice; out of 6 full
        double share = FastAttention.WindowShare(N, W);
        Assert.Equal((1 + share + share + share / 2 + 0.5) / 6, stats.AttentionWorkRatio, 12);
    }

    [Fact]
    public void TrialForwardsReadTheCachesButNeverWriteThem()
    {
        var plan = new FastAttnPlan(1, 2);
        plan[0, 1] = FastAttnMethod.OutputShare;
        using var attention = new FastAttention(plan, W, cfg: false) { Trial = true };
        using (attention.RunSelfAttention(Ops, Call(Rand(20, B, N, D)))) { }
        Assert.Equal(0, attention.CachedBytes);
        Assert.Equal(0, attention.Stats.LayerSteps);
        attention.Step = 1;
        var e = Assert.Throws<InvalidOperationException>(() => attention.RunSelfAttention(Ops, Call(Rand(21, B, N, D))));
        Assert.Contains("OUTPUT_SHARE, but no earlier step left its output", e.Message);
    }

    [Fact]
    public void CfgShareWithoutGuidanceIsRefused()
    {
        var plan = new FastAttnPlan(1, 1);
        plan[0, 0] = FastAttnMethod.FullAttnCfgShare;
        using var attention = new FastAttention(plan, W, cfg: false);
        var e = Assert.Throws<InvalidOperationException>(() => attention.RunSelfAttention(Ops, Call(Rand(22, B, N, D))));
        Assert.Contains("needs the [unconditional; conditional] batch", e.Message);
    }

    [Fact]
    public void WithoutAWindowStepAheadAFullStepKeepsNoResidual()
    {
        var plan = new FastAttnPlan(1, 3);   // all full: nothing to keep
        using var attention = new FastAttention(plan, W, cfg: true);
        for (int s = 0; s < 3; s++)
        {
            attention.Step = s;
            using (attention.RunSelfAttention(Ops, Call(Rand(30 + s, B, N, D)))) { }
            Assert.Equal(0, attention.CachedBytes);
        }
        Assert.Equal(1.0, attention.Stats.AttentionWorkRatio);
    }
}
