using XDit.Engine.Samplers;

namespace XDit.Tests.Samplers;

public class DdpmTests
{
    [Fact]
    public void StepWithoutNoiseDrawsFromTheSeededStream()
    {
        var s = new DDPMScheduler(new DDPMOptions { PredictionType = "v_prediction", ClipSample = false, StepsOffset = 1 });
        s.SetTimesteps(5);
        Assert.Equal(new float[] { 801, 601, 401, 201, 1 }, s.Timesteps);
        s.NoiseSeed = 7;
        var m = Numerics.Random(40, 1, 1f);
        var a = Numerics.Random(40, 2, 1f);
        var b = (float[])a.Clone();
        s.Step(m, 2, a);
        // Step k uses elements k·n … of the stream of NoiseSeed.
        s.Step(m, 2, b, NoiseGenerator.Normal(40, 7, 2 * 40));
        Assert.Equal(b, a);
        var c = Numerics.Random(40, 2, 1f);
        s.Step(m, 2, c, new float[40]);
        Assert.NotEqual(a, c); // the noise term matters at t > 0
    }

    [Fact]
    public void RowsOfABatchStepAsTheWholeBatchDoes()
    {
        // two replicas of 3 rows (of 10 values) each: with their windows, their steps equal one scheduler on all 6 rows
        DDPMScheduler Make(NoiseWindow window)
        {
            var s = new DDPMScheduler(new DDPMOptions { PredictionType = "v_prediction", ClipSample = false });
            s.SetTimesteps(4);
            s.NoiseSeed = 9;
            s.NoiseWindow = window;
            return s;
        }
        var m = Numerics.Random(60, 1, 1f);
        var whole = Numerics.Random(60, 2, 1f);
        var parts = new[] { whole[..30], whole[30..] };
        var all = Make(NoiseWindow.Rows(0, 6, 6, 10));
        Assert.Equal(NoiseWindow.Whole, all.NoiseWindow);
        var replicas = new[] { Make(NoiseWindow.Rows(0, 3, 6, 10)), Make(NoiseWindow.Rows(3, 3, 6, 10)) };
        for (int k = 0; k < 3; k++)
        {
            all.Step(m, k, whole);
            for (int r = 0; r < 2; r++) replicas[r].Step(m.AsSpan(30 * r, 30), k, parts[r]);
        }
        Assert.Equal(whole, parts[0].Concat(parts[1]).ToArray());
        // drawn over its own rows (the default window), the second replica's noise differs
        var own = Make(NoiseWindow.Whole);
        var a = new float[30];
        var b = new float[30];
        own.DrawNoise(1, a);
        replicas[1].DrawNoise(1, b);
        Assert.Equal(NoiseGenerator.Normal(30, 9, 60 + 30), b);
        Assert.NotEqual(a, b);
    }

    [Fact]
    public void ANoiseWindowRefusesRowsOutsideItsBatch()
    {
        Assert.Throws<ArgumentException>(() => NoiseWindow.Rows(4, 3, 6, 10));
        var s = new DDPMScheduler(new DDPMOptions()) { NoiseWindow = NoiseWindow.Rows(3, 3, 6, 10) };
        var e = Assert.Throws<ArgumentException>(() => s.DrawNoise(0, new float[40]));
        Assert.Contains("does not fit", e.Message);
    }

    [Fact]
    public void LastStepToTimestepZeroAddsNoNoiseOnlyWhenTIsZero()
    {
        // linspace spacing ends at t = 0: there diffusers adds no noise and x_prev is the x0 prediction (ᾱ_prev = 1).
        var s = new DDPMScheduler(new DDPMOptions { TimestepSpacing = "linspace", ClipSample = false });
        s.SetTimesteps(4);
        Assert.Equal(0f, s.Timesteps[^1]);
        var x = Numerics.Random(16, 3, 1f);
        var m = Numerics.Random(16, 4, 1f);
        float a = s.AlphasCumprod[0];
        var expected = x.Select((v, i) => (v - MathF.Sqrt(1 - a) * m[i]) / MathF.Sqrt(a)).ToArray();
        var noise = Enumerable.Repeat(100f, 16).ToArray();
        s.Step(m, 3, x, noise);
        Assert.True(Numerics.RelativeError(x, expected) < 1e-5);
    }

    [Fact]
    public void UnsupportedSettingsAreRefusedByName()
    {
        var e = Assert.Throws<NotSupportedException>(() => new DDPMScheduler(new DDPMOptions { VarianceType = "learned_range", Source = "sched.json" }));
        Assert.Contains("learned_range", e.Message);
        Assert.Contains("sched.json", e.Message);
    }
}
