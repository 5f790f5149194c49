using XDit.Engine.Samplers;

namespace XDit.Tests.Samplers;

public class EulerDiscreteTests
{
    static EulerDiscreteScheduler Sdxl(string spacing = "leading") => new(new EulerDiscreteOptions
    {
        Training = new() { BetaStart = 0.00085, BetaEnd = 0.012, BetaSchedule = "scaled_linear" }, TimestepSpacing = spacing, StepsOffset = 1,
    });

    [Fact]
    public void ModelInputScaleIsOneOverSqrtSigmaSquaredPlusOne()
    {
        var s = Sdxl();
        s.SetTimesteps(10);
        for (int k = 0; k < 10; k++)
        {
            float sigma = s.Sigmas[k];
            Assert.Equal(1 / Math.Sqrt(sigma * (double)sigma + 1), s.ModelInputScale(k), 6);
        }
        // The other schedulers leave the model input as it is.
        IScheduler ddim = new DDIMScheduler(new DDIMOptions());
        ddim.SetTimesteps(4);
        Assert.Equal(1f, ddim.ModelInputScale(0));
    }

    [Fact]
    public void LinspaceTimestepsAreFractionalAndInterpolateSigma()
    {
        var s = Sdxl("linspace");
        s.SetTimesteps(4);
        Assert.Equal(new float[] { 999, 666, 333, 0 }, s.Timesteps);
        s.SetTimesteps(7); // 999·k/6 is fractional: σ is interpolated between the two neighbouring training σ
        float t = s.Timesteps[1];
        Assert.NotEqual(MathF.Round(t), t);
        Assert.True(s.Sigmas[1] < s.Sigmas[0] && s.Sigmas[1] > s.Sigmas[2]);
        Assert.Equal(0f, s.Sigmas[^1]);
        Assert.Equal(s.Sigmas[0], s.InitNoiseSigma); // linspace: σ_max, not √(σ_max² + 1)
    }

    [Fact]
    public void EpsilonStepIsAnEulerStepInSigma()
    {
        var s = Sdxl();
        s.SetTimesteps(6);
        var x = Numerics.Random(24, 5, 3f);
        var m = Numerics.Random(24, 6, 1f);
        var expected = x.Select((v, i) => v + m[i] * (s.Sigmas[3] - s.Sigmas[2])).ToArray();
        s.Step(m, 2, x);
        Assert.True(Numerics.RelativeError(x, expected) < 1e-6);
    }
}
