namespace XDit.Engine.Samplers;

/// <summary>
/// A diffusion sampler on host float32 arrays, modelled on a diffusers scheduler (same schedule, same float32/float64
/// rounding points, so that a run matches diffusers to about 1e-6).
/// Use: <see cref="SetTimesteps"/>, then for k = 0 … n−1 call the model with <see cref="Timesteps"/>[k] on the current
/// sample and pass its output to <see cref="Step"/>(output, k, sample), which overwrites the sample with the next one.
/// The initial noise is N(0, 1) times <see cref="InitNoiseSigma"/>.
/// Most schedulers here feed the sample to the model as it is (diffusers' <c>scale_model_input</c> is the identity
/// for DPM-Solver++, UniPC, DDIM, DDPM and flow-match Euler); those that do not (Euler discrete) say so through
/// <see cref="ModelInputScale"/>, which a pipeline multiplies into the model input at each step.
/// </summary>
public interface IScheduler
{
    /// <summary>The diffusers class this reproduces (e.g. "DPMSolverMultistepScheduler").</summary>
    string ClassName { get; }

    /// <summary>
    /// Builds the inference schedule and clears the multistep state. <paramref name="mu"/> is the resolution-dependent
    /// shift of flow-match schedulers with dynamic shifting (required there, ignored elsewhere); <paramref name="sigmas"/>
    /// is a custom sigma list (flow-match only; its length then overrides <paramref name="numInferenceSteps"/>).
    /// mu is a double because diffusers keeps it a Python float until it rounds e^mu to float32.
    /// </summary>
    void SetTimesteps(int numInferenceSteps, double? mu = null, float[]? sigmas = null);

    /// <summary>Number of steps of the current schedule (length of <see cref="Timesteps"/>).</summary>
    int NumInferenceSteps { get; }

    /// <summary>What the pipeline passes to the model at step k (diffusers' <c>scheduler.timesteps</c>, as float).</summary>
    float[] Timesteps { get; }

    /// <summary>The noise levels, one more than the steps (the last is the final level, usually 0).</summary>
    float[] Sigmas { get; }

    /// <summary>Standard deviation of the initial noise (1 for all schedulers here).</summary>
    float InitNoiseSigma { get; }

    /// <summary>
    /// One denoising step: from the model output at step <paramref name="stepIndex"/> and the sample there, writes the
    /// sample of step k + 1 into <paramref name="sample"/> (float32 math). Multistep schedulers remember earlier model
    /// outputs, so steps must come in order; the first call after <see cref="SetTimesteps"/> or <see cref="Reset"/>
    /// may start at any index (image-to-image starts mid-schedule).
    /// </summary>
    void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample);

    /// <summary>The factor diffusers' <c>scale_model_input</c> applies to the sample at step k before the model sees
    /// it (1 for every scheduler but Euler discrete, where it is 1/√(σ_k² + 1)).</summary>
    float ModelInputScale(int stepIndex) => 1f;

    /// <summary>diffusers' <c>scale_model_input</c> of <paramref name="sample"/> at step k into
    /// <paramref name="destination"/> (by default the sample times <see cref="ModelInputScale"/>; Euler discrete
    /// divides, as diffusers rounds it).</summary>
    void ScaleModelInput(ReadOnlySpan<float> sample, int stepIndex, Span<float> destination)
    {
        float s = ModelInputScale(stepIndex);
        for (int i = 0; i < sample.Length; i++) destination[i] = sample[i] * s;
    }

    /// <summary>Forgets the multistep history (keeps the schedule).</summary>
    void Reset();
}
