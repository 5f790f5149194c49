namespace XDit.Engine.Samplers;

/// <summary>
/// CogVideoX's DDIM (diffusers' CogVideoXDDIMScheduler; the sampler of CogVideoX-2b): deterministic DDIM on the
/// shifted, optionally zero-SNR ᾱ of <see cref="CogVideoXScheduleOptions"/>. Step at timestep t, previous p = t − T // n
/// (ᾱ_p = 1 or ᾱ[0] below 0, by set_alpha_to_one): x0 from the model output by prediction type (never clipped), then
/// x_p = a·x + b·x0 with a = √((1 − ᾱ_p)/(1 − ᾱ_t)), b = √ᾱ_p − √ᾱ_t·a. The coefficients are float64 (diffusers' ᾱ
/// is float64 for scaled_linear), each rounded to float32 where it meets the float32 sample, as torch does.
/// At the zero-SNR start (ᾱ_t = 0) v-prediction gives x0 = −v and a = √(1 − ᾱ_p): no division by zero.
/// </summary>
public sealed class CogVideoXDDIMScheduler : IScheduler
{
    readonly CogVideoXScheduleOptions _o;
    readonly double[] _alphasCumprod;
    readonly double _finalAlphaCumprod;
    float[] _timesteps = [];
    float[] _sigmas = [];
    long[] _ts = [];

    public CogVideoXDDIMScheduler(CogVideoXScheduleOptions options)
    {
        options.Validate();
        _o = options;
        _alphasCumprod = options.AlphasCumprod();
        _finalAlphaCumprod = options.SetAlphaToOne ? 1.0 : _alphasCumprod[0];
    }

    public CogVideoXScheduleOptions Options => _o;
    public string ClassName => "CogVideoXDDIMScheduler";
    public int NumInferenceSteps => _timesteps.Length;
    public float[] Timesteps => _timesteps;
    /// <summary>No σ list of its own; √((1 − ᾱ)/ᾱ) at each timestep, then 0, for inspection (+∞ at a zero-SNR start).</summary>
    public float[] Sigmas => _sigmas;
    public float InitNoiseSigma => 1f;
    /// <summary>The shifted (and rescaled) ᾱ table, float64.</summary>
    public double[] AlphasCumprod => _alphasCumprod;

    public void SetTimesteps(int numInferenceSteps, double? mu = null, float[]? sigmas = null)
    {
        if (sigmas is not null) throw new NotSupportedException($"{_o.Source}: CogVideoXDDIMScheduler takes no custom sigmas");
        (_ts, _timesteps, _sigmas) = CogVideoXSteps.Schedule(_o, _alphasCumprod, numInferenceSteps);
    }

    public void Reset() { }

    public void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample)
    {
        int n = _ts.Length;
        StepChecks.Index(ClassName, n, stepIndex);
        StepChecks.Lengths(modelOutput.Length, sample.Length);

        long t = _ts[stepIndex];
        long prev = t - _o.Training.NumTrainTimesteps / n;
        double aT = _alphasCumprod[t];
        double aPrev = prev >= 0 ? _alphasCumprod[prev] : _finalAlphaCumprod;
        double a = Math.Sqrt((1 - aPrev) / (1 - aT));
        double b = Math.Sqrt(aPrev) - Math.Sqrt(aT) * a;
        var x0 = new CogVideoXSteps.X0(_o.PredictionType, aT);
        float fa = (float)a, fb = (float)b;
        for (int i = 0; i < sample.Length; i++)
        {
            float x = sample[i];
            sample[i] = fa * x + fb * x0.From(x, modelOutput[i]);
        }
    }
}
