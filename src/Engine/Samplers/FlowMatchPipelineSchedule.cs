namespace XDit.Engine.Samplers;

/// <summary>
/// The schedule the Flux and QwenImage pipelines hand FlowMatchEulerDiscreteScheduler.set_timesteps: custom sigmas
/// numpy.linspace(1, 1/N, N) and μ = calculate_shift(image_seq_len, …) from the scheduler config's base/max sequence
/// lengths and shifts (the pipelines' own defaults 256/4096 and 0.5/1.15 are the config's). μ is passed whether or not
/// the scheduler shifts dynamically; only a dynamic one uses it.
/// </summary>
public static class FlowMatchPipelineSchedule
{
    /// <summary>numpy.linspace(1, 1/N, N) in float64, then float32 as set_timesteps casts custom sigmas.</summary>
    public static float[] LinearSigmas(int steps)
    {
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), steps, "need at least one inference step");
        return NoiseSchedules.NumpyLinspace(1.0, 1.0 / steps, steps).Select(s => (float)s).ToArray();
    }

    /// <summary>The sigmas and μ for <paramref name="steps"/> steps over <paramref name="imageSeqLen"/> packed image
    /// tokens (QwenImage and Flux: latents.shape[1], <see cref="FlowMatchEulerDiscreteScheduler.ImageSeqLen"/>).</summary>
    public static (float[] Sigmas, double Mu) For(FlowMatchEulerDiscreteScheduler scheduler, int steps, int imageSeqLen)
        => (LinearSigmas(steps), scheduler.CalculateMu(imageSeqLen));

    /// <summary>Sets the scheduler's timesteps as the pipeline does (<see cref="For"/>).</summary>
    public static void SetTimesteps(FlowMatchEulerDiscreteScheduler scheduler, int steps, int imageSeqLen)
    {
        var (sigmas, mu) = For(scheduler, steps, imageSeqLen);
        scheduler.SetTimesteps(steps, mu, sigmas);
    }
}
