using XDit.Engine.Samplers;

namespace XDit.Engine.Pipelines;

/// <summary>
/// SANA Sprint's TrigFlow wrapping of its transformer around an <see cref="SCMScheduler"/> step, as
/// SanaSprintPipeline.__call__ writes it in its loop, presented as one scheduler so that every denoising loop (one
/// rank, the parallel executors, PipeFusion's per-patch steps; all elementwise) runs it unchanged. At step k with
/// angle t: τ = sin t / (cos t + sin t) is the timestep the transformer sees (<see cref="Timesteps"/>), c = √(τ² +
/// (1 − τ)²); the model reads (x / σ_d)·c (<see cref="ScaleModelInput"/>); its output F becomes the velocity
/// ((1 − 2τ)·x_in + (1 − 2τ + 2τ²)·F) / c · σ_d, which the SCM step takes. The latents live in σ_d units: the
/// initial noise is scaled by σ_d (<see cref="InitNoiseSigma"/>) and the pipeline divides the result by it. float32,
/// in diffusers' order of operations.
/// </summary>
public sealed class SanaSprintTrigFlow : IStochasticScheduler
{
    readonly SCMScheduler _scm;
    float[] _tau = [], _scale = [];
    float[] _velocity = [];

    /// <summary>Wraps <paramref name="scm"/>, whose timesteps may already be set (then so are this one's).</summary>
    public SanaSprintTrigFlow(SCMScheduler scm)
    {
        _scm = scm;
        Recompute();
    }

    public SCMScheduler Inner => _scm;
    public string ClassName => _scm.ClassName;
    public int NumInferenceSteps => _scm.NumInferenceSteps;
    /// <summary>τ_k, the transformer's timestep at step k (diffusers' scm_timestep).</summary>
    public float[] Timesteps => _tau;
    /// <summary>The SCM angles, n + 1 of them.</summary>
    public float[] Sigmas => _scm.Sigmas;
    /// <summary>σ_d: diffusers multiplies the initial latents (drawn or given) by sigma_data.</summary>
    public float InitNoiseSigma => _scm.SigmaData;
    public ulong NoiseSeed { get => _scm.NoiseSeed; set => _scm.NoiseSeed = value; }
    public NoiseWindow NoiseWindow { get => _scm.NoiseWindow; set => _scm.NoiseWindow = value; }
    public void DrawNoise(int stepIndex, Span<float> noise) => _scm.DrawNoise(stepIndex, noise);

    public void SetTimesteps(int numInferenceSteps, double? mu = null, float[]? sigmas = null)
    {
        _scm.SetTimesteps(numInferenceSteps, mu, sigmas);
        Recompute();
    }

    /// <summary>τ and c of each step from the SCM angles (torch float32 ops on the angle tensor).</summary>
    void Recompute()
    {
        var angles = _scm.Timesteps;
        _tau = new float[angles.Length];
        _scale = new float[angles.Length];
        for (int k = 0; k < angles.Length; k++)
        {
            float sin = (float)Math.Sin(angles[k]), cos = (float)Math.Cos(angles[k]);
            float tau = sin / (cos + sin);
            float oneMinus = 1f - tau;
            _tau[k] = tau;
            _scale[k] = MathF.Sqrt(tau * tau + oneMinus * oneMinus);
        }
    }

    /// <summary>c_k / σ_d (the model input is the sample times this, rounded as <see cref="ScaleModelInput"/>).</summary>
    public float ModelInputScale(int stepIndex) => _scale[Check(stepIndex)] / _scm.SigmaData;

    /// <summary>(x / σ_d)·c_k, divided first as diffusers does.</summary>
    public void ScaleModelInput(ReadOnlySpan<float> sample, int stepIndex, Span<float> destination)
    {
        float c = _scale[Check(stepIndex)], sd = _scm.SigmaData;
        for (int i = 0; i < sample.Length; i++) destination[i] = sample[i] / sd * c;
    }

    public void Reset() => _scm.Reset();

    public void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample)
        => _scm.Step(Velocity(modelOutput, stepIndex, sample), stepIndex, sample);

    public void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample, ReadOnlySpan<float> noise)
        => _scm.Step(Velocity(modelOutput, stepIndex, sample), stepIndex, sample, noise);

    /// <summary>The SCM step's model output from the transformer's: ((1 − 2τ)·x_in + (1 − 2τ + 2τ²)·F) / c · σ_d,
    /// x_in the model input recomputed from the sample as <see cref="ScaleModelInput"/> made it.</summary>
    ReadOnlySpan<float> Velocity(ReadOnlySpan<float> modelOutput, int stepIndex, ReadOnlySpan<float> sample)
    {
        Check(stepIndex);
        StepChecks.Lengths(modelOutput.Length, sample.Length);
        if (_velocity.Length != sample.Length) _velocity = new float[sample.Length];
        float tau = _tau[stepIndex], c = _scale[stepIndex], sd = _scm.SigmaData;
        float a = 1f - 2f * tau;
        float b = a + 2f * (tau * tau);
        for (int i = 0; i < sample.Length; i++)
        {
            float input = sample[i] / sd * c;
            _velocity[i] = (a * input + b * modelOutput[i]) / c * sd;
        }
        return _velocity;
    }

    int Check(int stepIndex)
    {
        if (_tau.Length == 0) throw new InvalidOperationException("SanaSprintTrigFlow: call SetTimesteps before stepping");
        if ((uint)stepIndex >= (uint)_tau.Length) throw new ArgumentOutOfRangeException(nameof(stepIndex), stepIndex, $"the schedule has {_tau.Length} steps");
        return stepIndex;
    }
}
