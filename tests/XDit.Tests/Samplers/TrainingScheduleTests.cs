using XDit.Engine.Samplers;
using XDit.Runtime;

namespace XDit.Tests.Samplers;

/// <summary>The training table the DDPM-family schedulers share (<see cref="TrainingSchedule"/>).</summary>
public class TrainingScheduleTests
{
    const string Config = """
        {"num_train_timesteps": 500, "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
         "prediction_type": "epsilon", "clip_sample": false}
        """;

    [Fact]
    public void TheFourSchedulersReadOneTableFromTheirConfig()
    {
        var c = JsonConfig.Parse(Config, "scheduler/scheduler_config.json");
        var expected = new TrainingSchedule { NumTrainTimesteps = 500, BetaStart = 0.00085, BetaEnd = 0.012, BetaSchedule = "scaled_linear", Source = c.Path };
        Assert.Equal(expected, TrainingSchedule.From(c));
        Assert.Equal(expected, DDPMOptions.FromConfig(c).Training);
        Assert.Equal(expected, DDIMOptions.FromConfig(c).Training);
        Assert.Equal(expected, DPMSolverMultistepOptions.FromConfig(c).Training);
        Assert.Equal(expected, EulerDiscreteOptions.FromConfig(c).Training);
        // and build their ᾱ from it: DDPM and DDIM expose it, Euler's σ is √((1 − ᾱ)/ᾱ) of it
        var alphas = expected.AlphasCumprod();
        Assert.Equal(500, alphas.Length);
        Assert.Equal(alphas, new DDPMScheduler(DDPMOptions.FromConfig(c)).AlphasCumprod);
        Assert.Equal(alphas, new DDIMScheduler(DDIMOptions.FromConfig(c)).AlphasCumprod);
        var euler = new EulerDiscreteScheduler(EulerDiscreteOptions.FromConfig(c));
        Assert.Equal(NoiseSchedules.TrainSigmas(alphas).Max(), euler.InitNoiseSigma);   // linspace spacing: σ_max
    }

    [Fact]
    public void TheScaledLinearTableIsTheSquareOfTorchsLinspaceOfTheRoots()
    {
        var s = new TrainingSchedule { NumTrainTimesteps = 5, BetaStart = 0.0001, BetaEnd = 0.0004, BetaSchedule = "scaled_linear" };
        var roots = NoiseSchedules.TorchLinspaceF32(0.01f, 0.02f, 5);
        Assert.Equal(roots.Select(r => r * r).ToArray(), s.Betas());
        var alphas = s.AlphasCumprod();
        double acc = 1;
        for (int i = 0; i < 5; i++) Assert.Equal((float)(acc *= 1f - roots[i] * roots[i]), alphas[i]);
        Assert.Equal(new float[] { 0.1f, 0.2f }, new TrainingSchedule { NumTrainTimesteps = 2, TrainedBetas = [0.1, 0.2], BetaSchedule = "unknown" }.Betas());
    }

    [Theory]
    [InlineData("\"beta_schedule\": \"cosine\"", "beta_schedule \"cosine\"")]
    [InlineData("\"trained_betas\": [0.1, 0.2]", "'trained_betas' has 2 values, expected num_train_timesteps = 1000")]
    [InlineData("\"beta_start\": -1", "'beta_start'")]
    [InlineData("\"num_train_timesteps\": 0", "'num_train_timesteps'")]
    public void ABadValueIsRefusedNamingTheFileAndTheKey(string entry, string named)
    {
        var c = JsonConfig.Parse("{" + entry + "}", "model/scheduler/scheduler_config.json");
        var e = Assert.ThrowsAny<Exception>(() => TrainingSchedule.From(c));
        Assert.True(e is FormatException or NotSupportedException, e.GetType().Name);
        Assert.Contains("model/scheduler/scheduler_config.json", e.Message);
        Assert.Contains(named, e.Message);
    }
}
