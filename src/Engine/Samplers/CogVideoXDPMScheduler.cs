namespace XDit.Engine.Samplers;

/// <summary>
/// CogVideoX's DPM-Solver (diffusers' CogVideoXDPMScheduler; the sampler of CogVideoX-5b): a stochastic second-order
/// DPM-Solver++ step in λ = log √(ᾱ/(1 − ᾱ)) on the ᾱ of <see cref="CogVideoXScheduleOptions"/>. Step k at t, previous
/// p = t − T // n (ᾱ_p = 1 or ᾱ[0] below 0), h = λ_p − λ_t; x0 from the model output by prediction type; then
/// x_p = m1·x − m2·D + σ·z with m1 = √((1 − ᾱ_p)/(1 − ᾱ_t))·e^(−h), m2 = expm1(−2h)·√ᾱ_p,
/// σ = √(1 − ᾱ_p)·√(1 − e^(−2h)) and z ~ N(0, 1). D is x0 on the first step (or after <see cref="Reset"/>, or
/// when p &lt; 0); otherwise the second-order blend D = (1 + 1/2r)·x0 − (1/2r)·x0_prev with r = (λ_t − λ_back)/h,
/// x0_prev and t_back = the previous step's x0 and timestep, which this scheduler remembers (diffusers passes them
/// back in by hand as old_pred_original_sample). diffusers ignores eta here: the step always adds the noise.
/// diffusers draws a second noise tensor for the second-order result; one draw per step is kept here (the first
/// draw only feeds a discarded first-order result), so step k uses stream elements k·n … of
/// <see cref="NoiseSeed"/>. Coefficients in float64, rounded to float32 where they meet the sample, as torch.
/// </summary>
public sealed class CogVideoXDPMScheduler : IStochasticScheduler
{
    readonly CogVideoXScheduleOptions _o;
    readonly double[] _alphasCumprod;
    readonly double _finalAlphaCumprod;
    float[] _timesteps = [];
    float[] _sigmas = [];
    long[] _ts = [];
    float[] _noise = [];
    float[] _x0 = [];
    float[] _oldX0 = [];
    /// <summary>Index of the step that left its x0 in <see cref="_oldX0"/>, or −1.</summary>
    int _lastStep = -1;

    public CogVideoXDPMScheduler(CogVideoXScheduleOptions options)
    {
        options.Validate();
        _o = options;
        _alphasCumprod = options.AlphasCumprod();
        _finalAlphaCumprod = options.SetAlphaToOne ? 1.0 : _alphasCumprod[0];
    }

    public CogVideoXScheduleOptions Options => _o;
    public string ClassName => "CogVideoXDPMScheduler";
    public int NumInferenceSteps => _timesteps.Length;
    public float[] Timesteps => _timesteps;
    /// <summary>No σ list of its own; √((1 − ᾱ)/ᾱ) at each timestep, then 0, for inspection (+∞ at a zero-SNR start).</summary>
    public float[] Sigmas => _sigmas;
    public float InitNoiseSigma => 1f;
    /// <summary>The shifted (and rescaled) ᾱ table, float64.</summary>
    public double[] AlphasCumprod => _alphasCumprod;
    public ulong NoiseSeed { get; set; }
    public NoiseWindow NoiseWindow { get; set; }

    public void SetTimesteps(int numInferenceSteps, double? mu = null, float[]? sigmas = null)
    {
        if (sigmas is not null) throw new NotSupportedException($"{_o.Source}: CogVideoXDPMScheduler takes no custom sigmas");
        (_ts, _timesteps, _sigmas) = CogVideoXSteps.Schedule(_o, _alphasCumprod, numInferenceSteps);
        Reset();
    }

    public void Reset() => _lastStep = -1;

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
        StepChecks.Index(ClassName, n, stepIndex);
        StepChecks.Lengths(modelOutput.Length, sample.Length, noise.Length);

        long t = _ts[stepIndex];
        long prev = t - _o.Training.NumTrainTimesteps / n;
        double aT = _alphasCumprod[t];
        double aPrev = prev >= 0 ? _alphasCumprod[prev] : _finalAlphaCumprod;
        // The previous x0 counts only when it came from the step just before and is of this sample's size.
        bool secondOrder = stepIndex > 0 && _lastStep == stepIndex - 1 && _oldX0.Length == sample.Length && prev >= 0;
        double lambda = Lambda(aT), h = Lambda(aPrev) - lambda;
        float m1 = (float)(Math.Sqrt((1 - aPrev) / (1 - aT)) * Math.Exp(-h));
        float m2 = (float)(double.ExpM1(-2 * h) * Math.Sqrt(aPrev));
        float mNoise = (float)(Math.Sqrt(1 - aPrev) * Math.Sqrt(1 - Math.Exp(-2 * h)));
        float m3 = 1f, m4 = 0f;
        if (secondOrder)
        {
            double r = (lambda - Lambda(_alphasCumprod[_ts[stepIndex - 1]])) / h;
            m3 = (float)(1 + 1 / (2 * r));
            m4 = (float)(1 / (2 * r));
        }

        if (_x0.Length != sample.Length) _x0 = new float[sample.Length];
        var x0 = new CogVideoXSteps.X0(_o.PredictionType, aT);
        for (int i = 0; i < sample.Length; i++)
        {
            float x = sample[i], p = x0.From(x, modelOutput[i]);
            _x0[i] = p;
            float d = secondOrder ? m3 * p - m4 * _oldX0[i] : p;
            sample[i] = m1 * x - m2 * d + mNoise * noise[i];
        }
        (_oldX0, _x0) = (_x0, _oldX0);
        _lastStep = stepIndex;
    }

    /// <summary>λ = log √(ᾱ/(1 − ᾱ)): −∞ at ᾱ = 0 (zero SNR), +∞ at ᾱ = 1, which give the limits diffusers gets.</summary>
    static double Lambda(double alphaProd) => Math.Log(Math.Sqrt(alphaProd / (1 - alphaProd)));
}
