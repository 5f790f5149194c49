using XDit.Engine.Samplers;
using XDit.Engine.Verify;
using XDit.Runtime;

namespace XDit.Tests.Samplers;

/// <summary>UniPCMultistepScheduler beyond its fixtures (SchedulerFixtureTests): what the config may say, how the
/// schedule and the steps are called.</summary>
public class UniPCSchedulerTests
{
    static IScheduler Wan(string extra = "")
        => SchedulerFactory.FromConfig(JsonConfig.Parse($$"""{"_class_name": "UniPCMultistepScheduler", "prediction_type": "flow_prediction", "use_flow_sigmas": true, "flow_shift": 3.0{{extra}}}""", "scheduler_config.json"));

    [Theory]
    [InlineData("\"thresholding\": true", "thresholding expected false", "found true")]
    [InlineData("\"use_karras_sigmas\": true", "use_karras_sigmas expected false", "found true")]
    [InlineData("\"use_dynamic_shifting\": true", "use_dynamic_shifting expected false", "found true")]
    [InlineData("\"predict_x0\": false", "predict_x0 expected true", "found false")]
    [InlineData("\"solver_p\": {\"a\": 1}", "solver_p expected null", "found {\"a\": 1}")]
    [InlineData("\"shift_terminal\": 0.1", "shift_terminal expected null", "found 0.1")]
    [InlineData("\"solver_type\": \"bh3\"", "solver_type expected bh1 or bh2", "found bh3")]
    [InlineData("\"use_flow_sigmas\": false", "use_flow_sigmas expected true with prediction_type flow_prediction", "found false")]
    [InlineData("\"final_sigmas_type\": \"sigma_max\"", "final_sigmas_type expected zero or sigma_min", "found sigma_max")]
    [InlineData("\"timestep_spacing\": \"karras\"", "timestep_spacing expected linspace, leading or trailing", "found karras")]
    public void UnimplementedSettingsAreRefusedInOneLine(string setting, string expected, string found)
    {
        var e = Assert.Throws<NotSupportedException>(() => Wan(", " + setting));
        Assert.Contains("scheduler_config.json", e.Message);
        Assert.Contains(expected, e.Message);
        Assert.Contains(found, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void TheOtherSolverNamesMeanBh2AsInDiffusers()
    {
        foreach (var name in new[] { "midpoint", "heun", "logrho" })
            Assert.Equal("bh2", Assert.IsType<UniPCMultistepScheduler>(Wan($", \"solver_type\": \"{name}\"")).Options.SolverType);
        Assert.Equal("bh1", Assert.IsType<UniPCMultistepScheduler>(Wan(", \"solver_type\": \"bh1\"")).Options.SolverType);
    }

    [Fact]
    public void FlowScheduleStartsJustBelowOneAndEndsAtZero()
    {
        var s = Wan();
        s.SetTimesteps(8);
        // σ_0 = shift(1) = 1 nudged down by 1e-6 so that log(1 − σ_0) stays finite; t_0 = (1 − 1e-6)·1000 truncated
        Assert.Equal((float)(1 - 1e-6), s.Sigmas[0]);
        Assert.Equal(999f, s.Timesteps[0]);
        Assert.Equal(0f, s.Sigmas[^1]);
        Assert.Equal(9, s.Sigmas.Length);
        for (int k = 1; k < s.Sigmas.Length; k++) Assert.True(s.Sigmas[k] < s.Sigmas[k - 1]);
    }

    [Fact]
    public void CustomSigmasAreShiftedAndNeedFlowSigmas()
    {
        var s = Wan();
        s.SetTimesteps(0, sigmas: [1f, 0.5f, 0.25f]);
        Assert.Equal(3, s.NumInferenceSteps);
        Assert.Equal((float)(3 * 0.5 / (1 + 2 * 0.5)), s.Sigmas[1]);   // flow_shift 3 applied, as diffusers does
        var vp = SchedulerFactory.FromConfig(JsonConfig.Parse("""{"_class_name": "UniPCMultistepScheduler"}""", "s.json"));
        var e = Assert.Throws<NotSupportedException>(() => vp.SetTimesteps(0, sigmas: [1f, 0.5f]));
        Assert.Contains("use_flow_sigmas", e.Message);
    }

    [Fact]
    public void StepsComeInOrderAndRestartAfterReset()
    {
        using var fixture = new FixtureCase(TestPaths.Fixture("sched_unipc_wan"));
        var s = SchedulerFixtureRunner.CreateScheduler(fixture);
        var x = new float[4];
        var m = new float[] { 0.1f, -0.2f, 0.3f, 0.05f };
        s.Step(m, 0, x);
        Assert.Throws<InvalidOperationException>(() => s.Step(m, 2, x));
        Assert.Throws<ArgumentException>(() => s.Step(new float[3], 1, x));
        s.Reset();
        s.Step(m, 3, x);   // image-to-image starts mid-schedule: no corrector, order 1
    }

    [Fact]
    public void TheCorrectorChangesTheSampleAndDisableCorrectorSkipsIt()
    {
        // the same outputs through Wan's scheduler with and without the corrector after step 0: step 1 differs
        float[] Run(string extra)
        {
            var s = Wan(extra);
            s.SetTimesteps(4);
            var x = new float[] { 1f, -0.5f, 0.25f, 2f };
            s.Step(new float[] { 0.3f, 0.1f, -0.2f, 0.4f }, 0, x);
            s.Step(new float[] { -0.1f, 0.6f, 0.2f, 0.1f }, 1, x);
            return x;
        }
        var with = Run("");
        var without = Run(", \"disable_corrector\": [0]");
        Assert.True(Numerics.RelativeError(with, without) > 1e-3);
    }
}
