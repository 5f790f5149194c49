using XDit.Runtime;

namespace XDit.Engine.Samplers;

/// <summary>Settings of <see cref="DDIMScheduler"/>, named and defaulted as diffusers' scheduler_config.json.</summary>
public sealed record DDIMOptions
{
    /// <summary>num_train_timesteps and the β table's keys.</summary>
    public TrainingSchedule Training { get; init; } = new();
    public bool ClipSample { get; init; } = true;
    public double ClipSampleRange { get; init; } = 1.0;
    public bool SetAlphaToOne { get; init; } = true;
    public int StepsOffset { get; init; }
    public string PredictionType { get; init; } = "epsilon";
    public string TimestepSpacing { get; init; } = "leading";
    public string Source { get; init; } = "<DDIMOptions>";

    public static DDIMOptions FromConfig(JsonConfig c)
    {
        if (c.GetBool("thresholding", false)) throw new NotSupportedException($"{c.Path}: thresholding = true is not supported by this DDIMScheduler");
        if (c.GetBool("rescale_betas_zero_snr", false)) throw new NotSupportedException($"{c.Path}: rescale_betas_zero_snr = true is not supported by this DDIMScheduler");
        return new DDIMOptions
        {
            Source = c.Path,
            Training = TrainingSchedule.From(c),
            ClipSample = c.GetBool("clip_sample", true),
            ClipSampleRange = c.GetDouble("clip_sample_range", 1.0),
            SetAlphaToOne = c.GetBool("set_alpha_to_one", true),
            StepsOffset = c.GetInt("steps_offset", 0, 0, ConfigBounds.TrainTimesteps),
            PredictionType = c.GetString("prediction_type", "epsilon")!,
            TimestepSpacing = c.GetString("timestep_spacing", "leading")!,
        };
    }
}

/// <summary>
/// Deterministic DDIM (η = 0; diffusers' DDIMScheduler). Step at timestep t: previous timestep t − T // n,
/// ᾱ_prev = ᾱ[prev] or, below 0, 1 (set_alpha_to_one) or ᾱ[0]; x0 and ε from the model output by prediction type,
/// x0 optionally clipped to ±clip_sample_range; x_prev = √ᾱ_prev·x0 + √(1 − ᾱ_prev)·ε, all in float32.
/// Stochastic DDIM (η &gt; 0) is not provided: no pipeline here uses it.
/// </summary>
public sealed class DDIMScheduler : IScheduler
{
    readonly DDIMOptions _o;
    readonly float[] _alphasCumprod;
    readonly float _finalAlphaCumprod;
    float[] _timesteps = [];
    float[] _sigmas = [];
    long[] _ts = [];

    public DDIMScheduler(DDIMOptions options)
    {
        _o = options;
        if (options.PredictionType is not ("epsilon" or "v_prediction" or "sample"))
            throw new NotSupportedException($"{options.Source}: prediction_type \"{options.PredictionType}\" is not supported (epsilon, v_prediction, sample)");
        if (options.TimestepSpacing is not ("linspace" or "leading" or "trailing"))
            throw new NotSupportedException($"{options.Source}: timestep_spacing \"{options.TimestepSpacing}\" is not supported (linspace, leading or trailing)");
        _alphasCumprod = options.Training.AlphasCumprod();
        _finalAlphaCumprod = options.SetAlphaToOne ? 1f : _alphasCumprod[0];
    }

    public DDIMOptions Options => _o;
    public string ClassName => "DDIMScheduler";
    public int NumInferenceSteps => _timesteps.Length;
    public float[] Timesteps => _timesteps;
    /// <summary>DDIM has no σ list of its own; this is √((1 − ᾱ)/ᾱ) at each timestep, then 0, for inspection.</summary>
    public float[] Sigmas => _sigmas;
    public float InitNoiseSigma => 1f;
    public float[] AlphasCumprod => _alphasCumprod;

    public void SetTimesteps(int numInferenceSteps, double? mu = null, float[]? sigmas = null)
    {
        if (sigmas is not null) throw new NotSupportedException($"{_o.Source}: DDIMScheduler takes no custom sigmas");
        long[] ts = NoiseSchedules.DiscreteTimesteps(_o.TimestepSpacing, _o.Training.NumTrainTimesteps, numInferenceSteps, _o.StepsOffset, _o.Source);
        _ts = ts;
        _timesteps = ts.Select(t => (float)t).ToArray();
        _sigmas = NoiseSchedules.SigmasAt(ts, _alphasCumprod);
    }

    public void Reset() { }

    public void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample)
    {
        int n = _ts.Length;
        StepChecks.Index("DDIMScheduler", n, stepIndex);
        StepChecks.Lengths(modelOutput.Length, sample.Length);

        long t = _ts[stepIndex];
        long prev = t - _o.Training.NumTrainTimesteps / n;
        float aT = _alphasCumprod[t];
        float aPrev = prev >= 0 ? _alphasCumprod[prev] : _finalAlphaCumprod;
        float bT = 1f - aT;
        float sqA = MathF.Sqrt(aT), sqB = MathF.Sqrt(bT), sqAPrev = MathF.Sqrt(aPrev);
        float dirCoef = MathF.Sqrt(1f - aPrev - 0f); // η = 0: std_dev_t² = 0
        bool clip = _o.ClipSample;
        float range = (float)_o.ClipSampleRange;
        for (int i = 0; i < sample.Length; i++)
        {
            float x = sample[i], m = modelOutput[i], x0, eps;
            switch (_o.PredictionType)
            {
                case "epsilon": x0 = (x - sqB * m) / sqA; eps = m; break;
                case "sample": x0 = m; eps = (x - sqA * x0) / sqB; break;
                default: x0 = sqA * x - sqB * m; eps = sqA * m + sqB * x; break; // v_prediction
            }
            if (clip) x0 = Math.Clamp(x0, -range, range);
            sample[i] = sqAPrev * x0 + dirCoef * eps;
        }
    }
}
