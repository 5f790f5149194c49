using XDit.Runtime;

namespace XDit.Engine.Samplers;

/// <summary>Settings of <see cref="EulerDiscreteScheduler"/>, named and defaulted as diffusers' scheduler_config.json.
/// Supported: prediction epsilon / v_prediction / sample, linear interpolation of the training σ, timestep spacing
/// linspace / leading / trailing, final σ zero or sigma_min, discrete timesteps. Karras / exponential / beta sigmas,
/// log-linear interpolation, continuous timesteps and zero-SNR rescaling are refused by name.</summary>
public sealed record EulerDiscreteOptions
{
    /// <summary>num_train_timesteps and the β table's keys.</summary>
    public TrainingSchedule Training { get; init; } = new();
    public string PredictionType { get; init; } = "epsilon";
    public string TimestepSpacing { get; init; } = "linspace";
    public int StepsOffset { get; init; }
    public string FinalSigmasType { get; init; } = "zero";
    public string Source { get; init; } = "<EulerDiscreteOptions>";

    public static EulerDiscreteOptions FromConfig(JsonConfig c)
    {
        foreach (var key in new[] { "use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas", "rescale_betas_zero_snr" })
            if (c.GetBool(key, false))
                throw new NotSupportedException($"{c.Path}: {key} = true is not supported by this EulerDiscreteScheduler");
        string interpolation = c.GetString("interpolation_type", "linear")!;
        if (interpolation != "linear")
            throw new NotSupportedException($"{c.Path}: interpolation_type \"{interpolation}\" is not supported (linear)");
        string timestepType = c.GetString("timestep_type", "discrete")!;
        if (timestepType != "discrete")
            throw new NotSupportedException($"{c.Path}: timestep_type \"{timestepType}\" is not supported (discrete)");
        if (c.Has("sigma_min") || c.Has("sigma_max"))
            throw new NotSupportedException($"{c.Path}: sigma_min / sigma_max are only used by Karras-style sigmas, which are not supported");
        return new EulerDiscreteOptions
        {
            Source = c.Path,
            Training = TrainingSchedule.From(c),
            PredictionType = c.GetString("prediction_type", "epsilon")!,
            TimestepSpacing = c.GetString("timestep_spacing", "linspace")!,
            StepsOffset = c.GetInt("steps_offset", 0, 0, ConfigBounds.TrainTimesteps),
            FinalSigmasType = c.GetString("final_sigmas_type", "zero")!,
        };
    }
}

/// <summary>
/// Euler sampler in the k-diffusion σ parametrisation (diffusers' EulerDiscreteScheduler; SDXL's default).
/// Schedule: timesteps by the configured spacing (float; leading and trailing are integers), σ_k = the float32
/// training σ √((1 − ᾱ)/ᾱ) linearly interpolated at t_k (numpy.interp in float64, then float32), then the final σ.
/// The model sees x/√(σ_k² + 1) (<see cref="ModelInputScale"/>, diffusers' scale_model_input), and a step is
/// x0 = x − σ·ε (epsilon), d = (x − x0)/σ, x_{k+1} = x + d·(σ_{k+1} − σ_k), in float32. The stochastic churn
/// (s_churn) is 0 in diffusers' pipelines and not provided.
/// The initial noise is scaled by √(σ_max² + 1) for leading spacing and σ_max otherwise, as diffusers does.
/// </summary>
public sealed class EulerDiscreteScheduler : IScheduler
{
    readonly EulerDiscreteOptions _o;
    readonly float[] _trainSigmas;
    float[] _timesteps = [];
    float[] _sigmas = [];

    public EulerDiscreteScheduler(EulerDiscreteOptions options)
    {
        _o = options;
        if (options.PredictionType is not ("epsilon" or "v_prediction" or "sample"))
            throw new NotSupportedException($"{options.Source}: prediction_type \"{options.PredictionType}\" is not supported (epsilon, v_prediction, sample)");
        if (options.TimestepSpacing is not ("linspace" or "leading" or "trailing"))
            throw new NotSupportedException($"{options.Source}: timestep_spacing \"{options.TimestepSpacing}\" is not supported (linspace, leading or trailing)");
        if (options.FinalSigmasType is not ("zero" or "sigma_min"))
            throw new NotSupportedException($"{options.Source}: final_sigmas_type \"{options.FinalSigmasType}\" is not supported (zero or sigma_min)");
        _trainSigmas = NoiseSchedules.TrainSigmas(options.Training.AlphasCumprod());
    }

    public EulerDiscreteOptions Options => _o;
    public string ClassName => "EulerDiscreteScheduler";
    public int NumInferenceSteps => _timesteps.Length;
    public float[] Timesteps => _timesteps;
    public float[] Sigmas => _sigmas;

    public float InitNoiseSigma
    {
        get
        {
            // diffusers takes the largest σ of the current schedule (of the training table before SetTimesteps).
            float max = _sigmas.Length > 0 ? _sigmas.Max() : _trainSigmas.Max();
            return _o.TimestepSpacing is "linspace" or "trailing" ? max : MathF.Sqrt(max * max + 1f);
        }
    }

    /// <summary>The factor scale_model_input applies at step k: 1/√(σ_k² + 1).</summary>
    public float ModelInputScale(int stepIndex)
    {
        if (stepIndex < 0 || stepIndex >= _timesteps.Length) throw new ArgumentOutOfRangeException(nameof(stepIndex), stepIndex, $"the schedule has {_timesteps.Length} steps");
        float s = _sigmas[stepIndex];
        return 1f / MathF.Sqrt(s * s + 1f);
    }

    /// <summary>scale_model_input exactly as diffusers rounds it: x / √(σ_k² + 1) (a division, not a multiply by the
    /// reciprocal), into <paramref name="destination"/>.</summary>
    public void ScaleModelInput(ReadOnlySpan<float> sample, int stepIndex, Span<float> destination)
    {
        if (stepIndex < 0 || stepIndex >= _timesteps.Length) throw new ArgumentOutOfRangeException(nameof(stepIndex), stepIndex, $"the schedule has {_timesteps.Length} steps");
        float s = _sigmas[stepIndex];
        float d = MathF.Sqrt(s * s + 1f);
        for (int i = 0; i < sample.Length; i++) destination[i] = sample[i] / d;
    }

    public void SetTimesteps(int numInferenceSteps, double? mu = null, float[]? sigmas = null)
    {
        if (sigmas is not null) throw new NotSupportedException($"{_o.Source}: EulerDiscreteScheduler takes no custom sigmas");
        int T = _o.Training.NumTrainTimesteps, n = numInferenceSteps;
        if (n < 1 || n > T) throw new ArgumentOutOfRangeException(nameof(numInferenceSteps), n, $"must be between 1 and num_train_timesteps = {T}");
        double[] ts;
        switch (_o.TimestepSpacing)
        {
            case "linspace":
            {
                var l = NoiseSchedules.NumpyLinspace(0, T - 1, n);
                ts = new double[n];
                for (int k = 0; k < n; k++) ts[k] = l[n - 1 - k];
                break;
            }
            case "leading":
            {
                int ratio = T / n;
                ts = new double[n];
                for (int k = 0; k < n; k++) ts[k] = (double)(n - 1 - k) * ratio + _o.StepsOffset;
                break;
            }
            default: // trailing
            {
                var a = NoiseSchedules.NumpyArange(T, 0, -(double)T / n);
                ts = a.Select(v => Math.Round(v, MidpointRounding.ToEven) - 1).ToArray();
                break;
            }
        }
        // diffusers rounds the timesteps to float32 before interpolating (linspace is float64 until then).
        var tf = ts.Select(v => (float)v).ToArray();
        _sigmas = new float[n + 1];
        for (int k = 0; k < n; k++) _sigmas[k] = (float)Interp(tf[k]);
        _sigmas[n] = _o.FinalSigmasType == "zero" ? 0f : _trainSigmas[0];
        _timesteps = tf;
    }

    /// <summary>numpy.interp(t, arange(T), σ_train) in float64, clamped at the ends.</summary>
    double Interp(double t)
    {
        if (t <= 0) return _trainSigmas[0];
        if (t >= _trainSigmas.Length - 1) return _trainSigmas[^1];
        int lo = (int)Math.Floor(t);
        double w = t - lo;
        return w == 0 ? _trainSigmas[lo] : _trainSigmas[lo] + w * ((double)_trainSigmas[lo + 1] - _trainSigmas[lo]);
    }

    /// <summary>diffusers' set_begin_index for image-to-image: the schedule starts <paramref name="count"/> steps in.
    /// The steps before are dropped (timesteps and σ alike), so that step 0 is the first one run and every loop,
    /// which counts steps from 0, runs the rest as they are; <see cref="Sigmas"/>[0] is then the σ add_noise scales
    /// the noise by.</summary>
    public void SkipSteps(int count)
    {
        if (count < 0 || count >= _timesteps.Length)
            throw new ArgumentOutOfRangeException(nameof(count), count, $"the schedule has {_timesteps.Length} steps; at least one must remain");
        _timesteps = _timesteps[count..];
        _sigmas = _sigmas[count..];
    }

    public void Reset() { }

    public void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample)
    {
        int n = _timesteps.Length;
        StepChecks.Index("EulerDiscreteScheduler", n, stepIndex);
        StepChecks.Lengths(modelOutput.Length, sample.Length);
        float sigma = _sigmas[stepIndex];
        float dt = _sigmas[stepIndex + 1] - sigma;
        float s2p1 = sigma * sigma + 1f;
        float vCoef = -sigma / MathF.Sqrt(s2p1);
        for (int i = 0; i < sample.Length; i++)
        {
            float x = sample[i], m = modelOutput[i];
            float x0 = _o.PredictionType switch
            {
                "epsilon" => x - sigma * m,
                "sample" => m,
                _ => m * vCoef + x / s2p1, // v_prediction
            };
            float derivative = (x - x0) / sigma;
            sample[i] = x + derivative * dt;
        }
    }
}
