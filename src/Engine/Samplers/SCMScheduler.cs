using XDit.Runtime;

namespace XDit.Engine.Samplers;

/// <summary>Settings of <see cref="SCMScheduler"/>, named and defaulted as diffusers' config.</summary>
public sealed record SCMOptions
{
    public int NumTrainTimesteps { get; init; } = 1000;
    /// <summary>Only "trigflow" (diffusers supports nothing else either).</summary>
    public string PredictionType { get; init; } = "trigflow";
    /// <summary>Standard deviation of the data (and of the noise a step adds): TrigFlow's σ_d.</summary>
    public double SigmaData { get; init; } = 0.5;
    public string Source { get; init; } = "<SCMOptions>";

    public static SCMOptions FromConfig(JsonConfig c) => new()
    {
        Source = c.Path,
        NumTrainTimesteps = c.GetInt("num_train_timesteps", 1000, 1, ConfigBounds.TrainTimesteps),
        PredictionType = c.GetString("prediction_type", "trigflow")!,
        SigmaData = c.GetPositiveDouble("sigma_data", 0.5),
    };
}

/// <summary>
/// The sCM consistency sampler (diffusers' SCMScheduler; SANA Sprint) over TrigFlow angles t ∈ [0, π/2], where
/// x_t = cos(t)·x₀ + sin(t)·z. Schedule: [max, intermediate, 0] when an intermediate angle is given (two steps only),
/// else torch.linspace(max, 0, n + 1), float32. Step k from s = t_k to t = t_{k+1} with the model's velocity F:
/// x₀ = cos(s)·x − sin(s)·F, then x = cos(t)·x₀ + sin(t)·σ_d·z with fresh N(0, 1) noise z (drawn at every step, as
/// diffusers does; at the last step t = 0 and the result is x₀ itself). All in float32, in diffusers' order.
/// <see cref="IScheduler.Timesteps"/> are the angles the steps start from (diffusers' timesteps without the final 0),
/// <see cref="Sigmas"/> all n + 1. The model's TrigFlow wrapping (input and timestep scaling, output mixing) is the
/// pipeline's, as in diffusers.
/// </summary>
public sealed class SCMScheduler : IStochasticScheduler
{
    /// <summary>diffusers' set_timesteps defaults (the pipeline's __call__ defaults too): π/2 rounded, and 1.3.</summary>
    public const double DefaultMaxTimesteps = 1.57080, DefaultIntermediateTimesteps = 1.3;

    readonly SCMOptions _o;
    float[] _angles = [];
    float[] _timesteps = [];
    float[] _noise = [];

    public SCMScheduler(SCMOptions options)
    {
        if (options.PredictionType != "trigflow")
            throw new NotSupportedException($"{options.Source}: prediction_type \"{options.PredictionType}\" is not supported (trigflow)");
        _o = options;
    }

    public SCMOptions Options => _o;
    public string ClassName => "SCMScheduler";
    public int NumInferenceSteps => _timesteps.Length;
    public float[] Timesteps => _timesteps;
    /// <summary>The n + 1 angles of the schedule, the last 0.</summary>
    public float[] Sigmas => _angles;
    public float InitNoiseSigma => 1f;
    public float SigmaData => (float)_o.SigmaData;
    public ulong NoiseSeed { get; set; }
    public NoiseWindow NoiseWindow { get; set; }

    /// <summary>The default schedule of n steps: [π/2, 1.3, 0] for two steps, else linspace(π/2, 0, n + 1) (diffusers
    /// refuses its default intermediate angle at other step counts; this takes them as with intermediate_timesteps=None).</summary>
    public void SetTimesteps(int numInferenceSteps, double? mu = null, float[]? sigmas = null)
    {
        if (sigmas is not null) throw new NotSupportedException($"{_o.Source}: SCMScheduler takes no custom sigmas");
        SetTimesteps(numInferenceSteps, DefaultMaxTimesteps, numInferenceSteps == 2 ? DefaultIntermediateTimesteps : null);
    }

    /// <summary>diffusers' set_timesteps(n, max_timesteps=<paramref name="maxTimesteps"/>,
    /// intermediate_timesteps=<paramref name="intermediateTimesteps"/>), which allows an intermediate angle only for
    /// two steps.</summary>
    public void SetTimesteps(int numInferenceSteps, double maxTimesteps, double? intermediateTimesteps)
    {
        if (numInferenceSteps < 1) throw new ArgumentOutOfRangeException(nameof(numInferenceSteps), numInferenceSteps, "need at least one inference step");
        if (numInferenceSteps > _o.NumTrainTimesteps)
            throw new ArgumentException($"{_o.Source}: {numInferenceSteps} inference steps are more than num_train_timesteps {_o.NumTrainTimesteps}");
        if (!double.IsFinite(maxTimesteps) || maxTimesteps <= 0)
            throw new ArgumentException($"max_timesteps {maxTimesteps} must be a positive angle (diffusers' default 1.5708)");
        if (intermediateTimesteps is { } mid)
        {
            if (numInferenceSteps != 2)
                throw new ArgumentException($"intermediate_timesteps {mid} is only for 2 inference steps, got {numInferenceSteps}");
            if (!double.IsFinite(mid))
                throw new ArgumentException($"intermediate_timesteps {mid} must be finite");
            _angles = [(float)maxTimesteps, (float)mid, 0f];
        }
        else _angles = NoiseSchedules.TorchLinspaceF32((float)maxTimesteps, 0f, numInferenceSteps + 1);
        _timesteps = _angles[..^1];
    }

    public void Reset() { }

    public void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample)
    {
        if (_noise.Length != sample.Length) _noise = new float[sample.Length];
        DrawNoise(stepIndex, _noise);
        Step(modelOutput, stepIndex, sample, _noise);
    }

    public void DrawNoise(int stepIndex, Span<float> noise)
        => NoiseGenerator.Fill(noise, NoiseSeed, NoiseWindow.Offset(stepIndex, noise.Length));

    public void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample, ReadOnlySpan<float> noise)
    {
        int n = _timesteps.Length;
        StepChecks.Index("SCMScheduler", n, stepIndex);
        StepChecks.Lengths(modelOutput.Length, sample.Length, noise.Length);
        float s = _angles[stepIndex], t = _angles[stepIndex + 1];
        float cosS = (float)Math.Cos(s), sinS = (float)Math.Sin(s), cosT = (float)Math.Cos(t), sinT = (float)Math.Sin(t);
        float sd = SigmaData;
        for (int i = 0; i < sample.Length; i++)
        {
            float x0 = cosS * sample[i] - sinS * modelOutput[i];
            sample[i] = cosT * x0 + sinT * (noise[i] * sd);
        }
    }
}
