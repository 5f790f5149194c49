using XDit.Engine.Samplers;
using XDit.Engine.Verify;
using XDit.Runtime;

namespace XDit.Tests.Samplers;

/// <summary>The pipelines' sigmas and μ for FlowMatchEulerDiscreteScheduler, held to what QwenImagePipeline passed when
/// the sched_flow_qwen fixture was made (meta.json's set_timesteps, image_seq_len 4096).</summary>
public class FlowMatchPipelineScheduleTests
{
    [Fact]
    public void QwenImageSigmasAndMuAreThePipelines()
    {
        using var fixture = new FixtureCase(TestPaths.Fixture("sched_flow_qwen"));
        var meta = fixture.Meta;
        var config = JsonConfig.Parse(meta.Get("config").GetRawText(), $"{meta.Path} (config)");
        var scheduler = new FlowMatchEulerDiscreteScheduler(FlowMatchEulerOptions.FromConfig(config));
        var args = JsonConfig.Parse(meta.Get("set_timesteps").GetRawText(), $"{meta.Path} (set_timesteps)");
        int steps = meta.GetInt("num_steps");

        var (sigmas, mu) = FlowMatchPipelineSchedule.For(scheduler, steps, meta.GetInt("image_seq_len"));
        Assert.Equal(args.GetDoubleArray("sigmas").Select(v => (float)v), sigmas);
        Assert.Equal(args.GetDouble("mu"), mu, 15);   // max 8192 and shift 0.9 from the config, not the defaults
        Assert.Equal(0.5 + 3840 * 0.4 / 7936, mu, 15);

        FlowMatchPipelineSchedule.SetTimesteps(scheduler, steps, meta.GetInt("image_seq_len"));
        using var ts = fixture.Input("timesteps");
        using var sg = fixture.Input("sigmas");
        Assert.Equal(ts.ToFloatArray(), scheduler.Timesteps);
        Assert.Equal(sg.ToFloatArray(), scheduler.Sigmas);
        Assert.Equal(0.02f, scheduler.Sigmas[^2], 6);   // shift_terminal stretches the last σ before 0 to 0.02
    }

    [Fact]
    public void LinearSigmasRunFromOneToOneOverN()
    {
        Assert.Equal(new[] { 1f, 0.75f, 0.5f, 0.25f }, FlowMatchPipelineSchedule.LinearSigmas(4));
        Assert.Equal(new[] { 1f }, FlowMatchPipelineSchedule.LinearSigmas(1));
        Assert.Throws<ArgumentOutOfRangeException>(() => FlowMatchPipelineSchedule.LinearSigmas(0));
    }
}
