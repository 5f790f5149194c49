namespace XDit.Engine.Samplers;

/// <summary>
/// A scheduler whose step adds fresh Gaussian noise (ancestral sampling, e.g. DDPM). <see cref="IScheduler.Step"/>
/// draws that noise itself from a seeded stream; this overload takes it from the caller instead, so that a run can
/// replay the noise a reference implementation drew (the golden fixtures store it per step).
/// </summary>
public interface IStochasticScheduler : IScheduler
{
    /// <summary>Seed of the noise stream <see cref="IScheduler.Step"/> draws from (step k uses the elements
    /// k·n … k·n + n − 1 of <see cref="NoiseGenerator"/>'s stream, n the whole sample's size, see
    /// <see cref="NoiseWindow"/>), so a run is reproducible.</summary>
    ulong NoiseSeed { get; set; }

    /// <summary>Where the stepped sample lies in the whole sample the stream is laid out over (default: it is the
    /// whole sample). A data-parallel replica steps its rows of a batch: drawing at their place in the batch's
    /// stream, it adds the noise one rank would add to those rows.</summary>
    NoiseWindow NoiseWindow { get; set; }

    /// <summary>The N(0, 1) noise <see cref="IScheduler.Step"/> adds at step <paramref name="stepIndex"/> to a sample
    /// of <paramref name="noise"/>'s length, drawn at the sample's place in the whole sample's stream.</summary>
    void DrawNoise(int stepIndex, Span<float> noise);

    /// <summary>As <see cref="IScheduler.Step"/>, with the N(0, 1) noise of this step given
    /// (<paramref name="noise"/> has the sample's length).</summary>
    void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample, ReadOnlySpan<float> noise);
}
