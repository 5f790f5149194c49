namespace XDit.Engine.Samplers;

/// <summary>
/// A scheduler whose step adds fresh Gaussian noise (ancestral sampling, e.g. DDPM). <see cref="IScheduler.Step"/>
/// draws that noise itself from a seeded stream; this overload takes it from the caller instead, so that a run can
/// replay the noise a reference implementation drew (the golden fixtures store it per step).
/// </summary>
public interface IStochasticScheduler : IScheduler
{
    /// <summary>Seed of the noise stream <see cref="IScheduler.Step"/> draws from (step k uses the elements
    /// k·n … k·n + n − 1 of <see cref="NoiseGenerator"/>'s stream, n the sample size), so a run is reproducible.</summary>
    ulong NoiseSeed { get; set; }

    /// <summary>As <see cref="IScheduler.Step"/>, with the N(0, 1) noise of this step given
    /// (<paramref name="noise"/> has the sample's length).</summary>
    void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample, ReadOnlySpan<float> noise);
}
