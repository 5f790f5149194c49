using XDit.Engine.Samplers;
using XDit.Runtime;

namespace XDit.Tests.Samplers;

/// <summary>The CogVideoX samplers beyond their golden fixtures (sched_cogvideox, sched_cogvideox_dpm in
/// <see cref="SchedulerFixtureTests"/>): the config keys, the zero-SNR table, and what the DPM step remembers and draws.</summary>
public class CogVideoXSchedulerTests
{
    const string Config5b = """{"_class_name": "CogVideoXDPMScheduler", "prediction_type": "v_prediction", "rescale_betas_zero_snr": true, "snr_shift_scale": 1.0, "timestep_spacing": "trailing", "clip_sample": false}""";

    static CogVideoXDPMScheduler Dpm(ulong seed = 5, int steps = 6)
    {
        var s = (CogVideoXDPMScheduler)SchedulerFactory.FromConfig(JsonConfig.Parse(Config5b));
        s.SetTimesteps(steps);
        s.NoiseSeed = seed;
        return s;
    }

    [Fact]
    public void FactoryBuildsBothByClassNameWithCogVideoXDefaults()
    {
        var ddim = Assert.IsType<CogVideoXDDIMScheduler>(SchedulerFactory.FromConfig(JsonConfig.Parse("""{"_class_name": "CogVideoXDDIMScheduler"}""")));
        Assert.Equal("scaled_linear", ddim.Options.Training.BetaSchedule);
        Assert.Equal(0.00085, ddim.Options.Training.BetaStart);
        Assert.Equal(3.0, ddim.Options.SnrShiftScale);
        Assert.IsType<CogVideoXDPMScheduler>(SchedulerFactory.FromConfig(JsonConfig.Parse(Config5b)));
        Assert.Contains("CogVideoXDPMScheduler", SchedulerFactory.Supported);
    }

    [Fact]
    public void ZeroSnrRescaleEndsAtPureNoiseAndKeepsTheFirstEntry()
    {
        var plain = new CogVideoXScheduleOptions { SnrShiftScale = 1.0 }.AlphasCumprod();
        var zero = new CogVideoXScheduleOptions { SnrShiftScale = 1.0, RescaleBetasZeroSnr = true }.AlphasCumprod();
        Assert.Equal(0.0, zero[^1]);
        Assert.True(plain[^1] > 0);
        Assert.Equal(plain[0], zero[0], 12);
        // the SNR shift divides ᾱ/(1 − ᾱ) by the scale
        var shifted = new CogVideoXScheduleOptions { SnrShiftScale = 3.0 }.AlphasCumprod();
        Assert.Equal(plain[500] / (1 - plain[500]) / 3, shifted[500] / (1 - shifted[500]), 9);
    }

    [Fact]
    public void DpmStepWithoutNoiseDrawsStepKFromTheSeededStream()
    {
        var m = Numerics.Random(40, 1, 1f);
        var a = Dpm();
        var b = Dpm();
        var xa = Numerics.Random(40, 2, 1f);
        var xb = (float[])xa.Clone();
        for (int k = 0; k < 3; k++)
        {
            a.Step(m, k, xa);
            b.Step(m, k, xb, NoiseGenerator.Normal(40, 5, (ulong)k * 40));
        }
        Assert.Equal(xb, xa);
        var other = Dpm(seed: 6);
        var xc = Numerics.Random(40, 2, 1f);
        for (int k = 0; k < 3; k++) other.Step(m, k, xc);
        Assert.NotEqual(xa, xc); // the step adds noise: another seed, another sample
    }

    [Fact]
    public void DpmSecondStepUsesThePreviousPredictionUntilReset()
    {
        var m0 = Numerics.Random(40, 1, 1f);
        var m1 = Numerics.Random(40, 3, 1f);
        var noise = new float[40];
        var s = Dpm();
        var x = Numerics.Random(40, 2, 1f);
        // step 1 looks back at the zero-SNR start (λ = −∞), where the blend's weight on the old x0 is 0: step 2 is the
        // first whose second-order term shows
        s.Step(m0, 0, x, noise);
        s.Step(m1, 1, x, noise);
        var start = (float[])x.Clone();
        s.Step(m0, 2, x, noise); // second order: blends in step 1's x0
        var fresh = Dpm();
        var y = (float[])start.Clone();
        fresh.Step(m0, 2, y, noise); // first call: first order
        Assert.NotEqual(x, y);
        s.Reset();
        var z = (float[])start.Clone();
        s.Step(m0, 2, z, noise);
        Assert.Equal(y, z);
    }

    [Fact]
    public void LastStepLandsOnThePredictedCleanSample()
    {
        // 8 trailing steps end at t = 124, whose previous timestep is −1: ᾱ_prev = 1, so both samplers return x0 (DPM
        // adds no noise there)
        var ddim = (CogVideoXDDIMScheduler)SchedulerFactory.FromConfig(JsonConfig.Parse(Config5b.Replace("CogVideoXDPMScheduler", "CogVideoXDDIMScheduler")));
        ddim.SetTimesteps(8);
        var dpm = Dpm(steps: 8);
        Assert.Equal(124f, ddim.Timesteps[^1]);
        var m = Numerics.Random(16, 1, 1f);
        int last = 7;
        double a = ddim.AlphasCumprod[(int)ddim.Timesteps[last]];
        var x = Numerics.Random(16, 2, 1f);
        var expected = x.Select((v, i) => (float)Math.Sqrt(a) * v - (float)Math.Sqrt(1 - a) * m[i]).ToArray();
        var d = (float[])x.Clone();
        ddim.Step(m, last, d);
        var p = (float[])x.Clone();
        dpm.Step(m, last, p, Enumerable.Repeat(100f, 16).ToArray());
        Assert.Equal(expected, d);
        Assert.Equal(expected, p);
    }

    [Fact]
    public void UnsupportedKeysAreNamed()
    {
        var th = Assert.Throws<NotSupportedException>(() => SchedulerFactory.FromConfig(JsonConfig.Parse("""{"_class_name": "CogVideoXDDIMScheduler", "thresholding": true}""", "s.json")));
        Assert.Contains("s.json", th.Message);
        Assert.Contains("thresholding", th.Message);
        var pt = Assert.Throws<NotSupportedException>(() => SchedulerFactory.FromConfig(JsonConfig.Parse("""{"_class_name": "CogVideoXDPMScheduler", "prediction_type": "flow"}""", "s.json")));
        Assert.Contains("prediction_type", pt.Message);
        var shift = Assert.ThrowsAny<Exception>(() => SchedulerFactory.FromConfig(JsonConfig.Parse("""{"_class_name": "CogVideoXDPMScheduler", "snr_shift_scale": -1}""", "s.json")));
        Assert.Contains("snr_shift_scale", shift.Message);
    }
}
