using XDit.Engine.Samplers;

namespace XDit.Tests.Samplers;

public class DdimTests
{
    [Fact]
    public void LeadingSpacingWithOffset()
    {
        var s = new DDIMScheduler(new DDIMOptions { StepsOffset = 1 });
        s.SetTimesteps(25);
        Assert.Equal(961f, s.Timesteps[0]);
        Assert.Equal(1f, s.Timesteps[^1]);
        var lin = new DDIMScheduler(new DDIMOptions { TimestepSpacing = "linspace" });
        lin.SetTimesteps(4);
        Assert.Equal(new float[] { 999, 666, 333, 0 }, lin.Timesteps);
        var tr = new DDIMScheduler(new DDIMOptions { TimestepSpacing = "trailing" });
        tr.SetTimesteps(4);
        Assert.Equal(new float[] { 999, 749, 499, 249 }, tr.Timesteps);
    }

    [Theory]
    [InlineData("epsilon", false)]
    [InlineData("epsilon", true)]
    [InlineData("v_prediction", false)]
    [InlineData("sample", true)]
    public void StepMatchesTheDdimFormula(string prediction, bool clip)
    {
        var s = new DDIMScheduler(new DDIMOptions { PredictionType = prediction, ClipSample = clip, SetAlphaToOne = false });
        s.SetTimesteps(10);
        var ac = s.AlphasCumprod;
        foreach (int k in new[] { 3, 9 }) // 9: last step, previous timestep below 0 → ᾱ[0]
        {
            var x = Numerics.Random(32, k, 3f);
            var m = Numerics.Random(32, 10 + k, 2f);
            int t = (int)s.Timesteps[k], prev = t - 100;
            double a = ac[t], aPrev = prev >= 0 ? ac[prev] : ac[0], sa = Math.Sqrt(a), sb = Math.Sqrt(1 - a);
            var expected = new float[32];
            for (int i = 0; i < 32; i++)
            {
                double x0 = prediction switch { "epsilon" => (x[i] - sb * m[i]) / sa, "sample" => m[i], _ => sa * x[i] - sb * m[i] };
                double eps = prediction switch { "epsilon" => m[i], "sample" => (x[i] - sa * m[i]) / sb, _ => sa * m[i] + sb * x[i] };
                if (clip) x0 = Math.Clamp(x0, -1, 1);
                expected[i] = (float)(Math.Sqrt(aPrev) * x0 + Math.Sqrt(1 - aPrev) * eps);
            }
            s.Step(m, k, x);
            Assert.True(Numerics.RelativeError(x, expected) < 1e-5, $"{prediction} clip {clip} step {k}");
        }
    }
}
