using XDit.Engine.Samplers;
using XDit.Runtime;

namespace XDit.Tests.Samplers;

public class SchedulerFactoryTests
{
    [Fact]
    public void DemoSchedulerLoads()
    {
        var s = SchedulerFactory.Load(Path.Combine(TestPaths.DemoModel, "scheduler"));
        var dpm = Assert.IsType<DPMSolverMultistepScheduler>(s);
        Assert.True(double.IsNegativeInfinity(dpm.Options.LambdaMinClipped));
        Assert.Equal(2, dpm.Options.SolverOrder);
        s.SetTimesteps(20);
        Assert.Equal(999f, s.Timesteps[0]);
        Assert.Equal(1f, s.InitNoiseSigma);
    }

    [Fact]
    public void ClassesAreChosenByName()
    {
        Assert.IsType<FlowMatchEulerDiscreteScheduler>(SchedulerFactory.FromConfig(JsonConfig.Parse("""{"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 3.0}""")));
        Assert.IsType<DDIMScheduler>(SchedulerFactory.FromConfig(JsonConfig.Parse("""{"_class_name": "DDIMScheduler", "clip_sample": false}""")));
    }

    [Fact]
    public void UnknownClassAndUnsupportedOptionsAreNamed()
    {
        var e = Assert.Throws<NotSupportedException>(() => SchedulerFactory.FromConfig(JsonConfig.Parse("""{"_class_name": "EulerAncestralDiscreteScheduler"}""", "sched.json")));
        Assert.Contains("EulerAncestralDiscreteScheduler", e.Message);
        Assert.Contains("sched.json", e.Message);
        var missing = Assert.Throws<FormatException>(() => SchedulerFactory.FromConfig(JsonConfig.Parse("""{"shift": 1.0}""", "x.json")));
        Assert.Contains("_class_name", missing.Message);
        var opt = Assert.Throws<NotSupportedException>(() => SchedulerFactory.FromConfig(JsonConfig.Parse("""{"_class_name": "DPMSolverMultistepScheduler", "algorithm_type": "sde-dpmsolver++"}""")));
        Assert.Contains("sde-dpmsolver++", opt.Message);
        var th = Assert.Throws<NotSupportedException>(() => SchedulerFactory.FromConfig(JsonConfig.Parse("""{"_class_name": "DPMSolverMultistepScheduler", "thresholding": true}""")));
        Assert.Contains("thresholding", th.Message);
    }
}
