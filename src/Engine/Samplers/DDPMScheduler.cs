using XDit.Runtime;

namespace XDit.Engine.Samplers;

/// <summary>Settings of <see cref="DDPMScheduler"/>, named and defaulted as diffusers' scheduler_config.json.</summary>
public sealed record DDPMOptions
{
    /// <summary>num_train_timesteps and the β table's keys.</summary>
    public TrainingSchedule Training { get; init; } = new();
    /// <summary>fixed_small (posterior variance β̃, HunyuanDiT) or fixed_large (β_t).</summary>
    public string VarianceType { get; init; } = "fixed_small";
    public bool ClipSample { get; init; } = true;
    public double ClipSampleRange { get; init; } = 1.0;
    public string PredictionType { get; init; } = "epsilon";
    public string TimestepSpacing { get; init; } = "leading";
    public int StepsOffset { get; init; }
    public string Source { get; init; } = "<DDPMOptions>";

    public static DDPMOptions FromConfig(JsonConfig c)
    {
        if (c.GetBool("thresholding", false)) throw new NotSupportedException($"{c.Path}: thresholding = true is not supported by this DDPMScheduler");
        if (c.GetBool("rescale_betas_zero_snr", false)) throw new NotSupportedException($"{c.Path}: rescale_betas_zero_snr = true is not supported by this DDPMScheduler");
        return new DDPMOptions
        {
            Source = c.Path,
            Training = TrainingSchedule.From(c),
            VarianceType = c.GetString("variance_type", "fixed_small")!,
            ClipSample = c.GetBool("clip_sample", true),
            ClipSampleRange = c.GetDouble("clip_sample_range", 1.0),
            PredictionType = c.GetString("prediction_type", "epsilon")!,
            TimestepSpacing = c.GetString("timestep_spacing", "leading")!,
            StepsOffset = c.GetInt("steps_offset", 0, 0, ConfigBounds.TrainTimesteps),
        };
    }
}

/// <summary>
/// Ancestral DDPM (diffusers' DDPMScheduler; HunyuanDiT's sampler, with v-prediction). Step at timestep t, previous
/// timestep p = t − T // n (ᾱ_p = 1 below 0): x0 from the model output by prediction type (optionally clipped), then
/// the posterior mean x_p = (√ᾱ_p·β_t/(1 − ᾱ_t))·x0 + (√α_t·(1 − ᾱ_p)/(1 − ᾱ_t))·x with α_t = ᾱ_t/ᾱ_p, β_t = 1 − α_t,
/// plus, for t &gt; 0, √variance·z: variance (1 − ᾱ_p)/(1 − ᾱ_t)·β_t clamped at 1e-20 (fixed_small) or β_t
/// (fixed_large). All in float32, in diffusers' order of operations. Learned variances are not provided: pipelines
/// that predict them (learn_sigma) keep the mean channels and configure a fixed variance.
/// </summary>
public sealed class DDPMScheduler : IStochasticScheduler
{
    readonly DDPMOptions _o;
    readonly float[] _alphasCumprod;
    float[] _timesteps = [];
    float[] _sigmas = [];
    long[] _ts = [];
    float[] _noise = [];

    public DDPMScheduler(DDPMOptions options)
    {
        _o = options;
        if (options.PredictionType is not ("epsilon" or "v_prediction" or "sample"))
            throw new NotSupportedException($"{options.Source}: prediction_type \"{options.PredictionType}\" is not supported (epsilon, v_prediction, sample)");
        if (options.VarianceType is not ("fixed_small" or "fixed_large"))
            throw new NotSupportedException($"{options.Source}: variance_type \"{options.VarianceType}\" is not supported (fixed_small or fixed_large)");
        if (options.TimestepSpacing is not ("linspace" or "leading" or "trailing"))
            throw new NotSupportedException($"{options.Source}: timestep_spacing \"{options.TimestepSpacing}\" is not supported (linspace, leading or trailing)");
        _alphasCumprod = options.Training.AlphasCumprod();
    }

    public DDPMOptions Options => _o;
    public string ClassName => "DDPMScheduler";
    public int NumInferenceSteps => _timesteps.Length;
    public float[] Timesteps => _timesteps;
    /// <summary>DDPM has no σ list of its own; this is √((1 − ᾱ)/ᾱ) at each timestep, then 0, for inspection.</summary>
    public float[] Sigmas => _sigmas;
    public float InitNoiseSigma => 1f;
    public float[] AlphasCumprod => _alphasCumprod;
    public ulong NoiseSeed { get; set; }
    public NoiseWindow NoiseWindow { get; set; }

    public void SetTimesteps(int numInferenceSteps, double? mu = null, float[]? sigmas = null)
    {
        if (sigmas is not null) throw new NotSupportedException($"{_o.Source}: DDPMScheduler takes no custom sigmas");
        long[] ts = NoiseSchedules.DiscreteTimesteps(_o.TimestepSpacing, _o.Training.NumTrainTimesteps, numInferenceSteps, _o.StepsOffset, _o.Source);
        _ts = ts;
        _timesteps = ts.Select(t => (float)t).ToArray();
        _sigmas = NoiseSchedules.SigmasAt(ts, _alphasCumprod);
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
        int n = _ts.Length;
        StepChecks.Index("DDPMScheduler", n, stepIndex);
        StepChecks.Lengths(modelOutput.Length, sample.Length, noise.Length);

        long t = _ts[stepIndex];
        long prev = t - _o.Training.NumTrainTimesteps / n;
        float aT = _alphasCumprod[t];
        float aPrev = prev >= 0 ? _alphasCumprod[prev] : 1f;
        float bT = 1f - aT, bPrev = 1f - aPrev;
        float curAlpha = aT / aPrev, curBeta = 1f - curAlpha;
        float sqA = MathF.Sqrt(aT), sqB = MathF.Sqrt(bT);
        float x0Coef = MathF.Sqrt(aPrev) * curBeta / bT;
        float xCoef = MathF.Sqrt(curAlpha) * bPrev / bT;
        // Posterior standard deviation; diffusers adds noise only while t > 0.
        float std = 0f;
        bool addNoise = t > 0;
        if (addNoise)
        {
            float variance = _o.VarianceType == "fixed_small" ? MathF.Max(bPrev / bT * curBeta, 1e-20f) : curBeta;
            std = MathF.Sqrt(variance);
        }
        bool clip = _o.ClipSample;
        float range = (float)_o.ClipSampleRange;
        for (int i = 0; i < sample.Length; i++)
        {
            float x = sample[i], m = modelOutput[i];
            float x0 = _o.PredictionType switch
            {
                "epsilon" => (x - sqB * m) / sqA,
                "sample" => m,
                _ => sqA * x - sqB * m, // v_prediction
            };
            if (clip) x0 = Math.Clamp(x0, -range, range);
            float prevSample = x0Coef * x0 + xCoef * x;
            if (addNoise) prevSample += std * noise[i];
            sample[i] = prevSample;
        }
    }
}
