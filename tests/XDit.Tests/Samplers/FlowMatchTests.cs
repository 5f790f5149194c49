using XDit.Engine.Samplers;

namespace XDit.Tests.Samplers;

public class FlowMatchTests
{
    static readonly FlowMatchEulerOptions FluxDev = new() { Shift = 3.0, UseDynamicShifting = true };

    [Fact]
    public void DynamicShiftingWithoutMuIsAClearError()
    {
        var s = new FlowMatchEulerDiscreteScheduler(FluxDev);
        var e = Assert.Throws<ArgumentException>(() => s.SetTimesteps(28));
        Assert.Contains("mu", e.Message);
        Assert.Contains("use_dynamic_shifting", e.Message);
    }

    [Fact]
    public void CalculateShiftIsLinearBetweenBaseAndMax()
    {
        Assert.Equal(0.5, FlowMatchEulerDiscreteScheduler.CalculateShift(256), 12);
        Assert.Equal(1.15, FlowMatchEulerDiscreteScheduler.CalculateShift(4096), 12);
        Assert.Equal(0.825, FlowMatchEulerDiscreteScheduler.CalculateShift(2176), 12);
        Assert.Equal(4096, FlowMatchEulerDiscreteScheduler.ImageSeqLen(128, 128));
        Assert.Equal(1.15, new FlowMatchEulerDiscreteScheduler(FluxDev).CalculateMu(4096), 12);
    }

    [Fact]
    public void FluxDevScheduleAt1024IsTheSpecs()
    {
        var s = new FlowMatchEulerDiscreteScheduler(FluxDev);
        var lin = NoiseSchedules.NumpyLinspace(1.0, 1.0 / 28, 28).Select(v => (float)v).ToArray();
        s.SetTimesteps(28, mu: 1.15, sigmas: lin);
        float[] head = [1.0f, 0.98840863f, 0.97622246f, 0.96339440f];
        for (int i = 0; i < head.Length; i++) Assert.Equal(head[i], s.Sigmas[i], 6e-8f);
        Assert.Equal(0.19545460f, s.Sigmas[26], 6e-8f);
        Assert.Equal(0.10472090f, s.Sigmas[27], 6e-8f);
        Assert.Equal(0f, s.Sigmas[28]);
        Assert.Equal(s.Sigmas[5] * 1000f, s.Timesteps[5]);
    }

    [Fact]
    public void Sd3StaticShiftScheduleIsTheSpecs()
    {
        var s = new FlowMatchEulerDiscreteScheduler(new FlowMatchEulerOptions { Shift = 3.0 });
        Assert.Equal(0.002994012087583542, s.SigmaMin, 12);
        s.SetTimesteps(28);
        float[] head = [1.0f, 0.98738062f, 0.97410774f, 0.96012932f];
        for (int i = 0; i < head.Length; i++) Assert.Equal(head[i], s.Sigmas[i], 6e-8f);
        Assert.Equal(0.11090573f, s.Sigmas[26], 6e-8f);
        Assert.Equal(0.00892857f, s.Sigmas[27], 6e-8f);
    }

    [Fact]
    public void SchnellIsUnshifted()
    {
        var s = new FlowMatchEulerDiscreteScheduler(new FlowMatchEulerOptions { Shift = 1.0 });
        s.SetTimesteps(4, sigmas: NoiseSchedules.NumpyLinspace(1.0, 0.25, 4).Select(v => (float)v).ToArray());
        Assert.Equal(new float[] { 1f, 0.75f, 0.5f, 0.25f, 0f }, s.Sigmas);
        Assert.Equal(new float[] { 1000f, 750f, 500f, 250f }, s.Timesteps);
    }

    [Fact]
    public void LinearTimeShiftAndTerminalStretch()
    {
        var s = new FlowMatchEulerDiscreteScheduler(new FlowMatchEulerOptions { UseDynamicShifting = true, TimeShiftType = "linear" });
        var lin = NoiseSchedules.NumpyLinspace(1.0, 0.1, 10).Select(v => (float)v).ToArray();
        s.SetTimesteps(10, mu: 2.0, sigmas: lin);
        for (int i = 0; i < 10; i++)
            Assert.Equal(2.0 / (2.0 + 1.0 / lin[i] - 1.0), s.Sigmas[i], 1e-6);

        var t = new FlowMatchEulerDiscreteScheduler(new FlowMatchEulerOptions { Shift = 3.0, ShiftTerminal = 0.1 });
        t.SetTimesteps(12);
        Assert.Equal(0.1f, t.Sigmas[11], 1e-6f);
        Assert.Equal(1f, t.Sigmas[0], 1e-6f);
    }

    [Fact]
    public void EulerStepMovesAlongTheVelocity()
    {
        var s = new FlowMatchEulerDiscreteScheduler(new FlowMatchEulerOptions { Shift = 3.0 });
        s.SetTimesteps(5);
        var x = Numerics.Random(40, 1);
        var v = Numerics.Random(40, 2);
        var expected = x.Select((xi, i) => (float)(xi + ((double)s.Sigmas[3] - s.Sigmas[2]) * v[i])).ToArray();
        s.Step(v, 2, x);
        Assert.True(Numerics.RelativeError(x, expected) < 1e-6);
        // A whole run with the exact velocity x1 − x0 from noise x1 lands on x0 (straight paths).
        var x0 = Numerics.Random(40, 3);
        var noise = Numerics.Random(40, 4);
        var vel = noise.Select((n, i) => n - x0[i]).ToArray();
        var y = (float[])noise.Clone();
        for (int k = 0; k < 5; k++) s.Step(vel, k, y);
        Assert.True(Numerics.RelativeError(y, x0) < 1e-5);
    }
}
