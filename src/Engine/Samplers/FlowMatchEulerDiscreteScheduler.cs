using XDit.Runtime;

namespace XDit.Engine.Samplers;

/// <summary>Settings of <see cref="FlowMatchEulerDiscreteScheduler"/>, named and defaulted as diffusers' config.</summary>
public sealed record FlowMatchEulerOptions
{
    public int NumTrainTimesteps { get; init; } = 1000;
    public double Shift { get; init; } = 1.0;
    public bool UseDynamicShifting { get; init; }
    public double BaseShift { get; init; } = 0.5;
    public double MaxShift { get; init; } = 1.15;
    public int BaseImageSeqLen { get; init; } = 256;
    public int MaxImageSeqLen { get; init; } = 4096;
    /// <summary>"exponential" (Flux: e^μ/(e^μ + (1/σ − 1))) or "linear" (μ/(μ + (1/σ − 1))).</summary>
    public string TimeShiftType { get; init; } = "exponential";
    /// <summary>When set, the shifted schedule is stretched so that its last σ equals this value.</summary>
    public double? ShiftTerminal { get; init; }
    public string Source { get; init; } = "<FlowMatchEulerOptions>";

    public static FlowMatchEulerOptions FromConfig(JsonConfig c)
    {
        foreach (var key in new[] { "invert_sigmas", "use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas", "stochastic_sampling" })
            if (c.GetBool(key, false))
                throw new NotSupportedException($"{c.Path}: {key} = true is not supported by this FlowMatchEulerDiscreteScheduler");
        double? terminal = c.GetDoubleOrNull("shift_terminal");
        return new FlowMatchEulerOptions
        {
            Source = c.Path,
            NumTrainTimesteps = c.GetInt("num_train_timesteps", 1000, 1, ConfigBounds.TrainTimesteps),
            Shift = c.GetPositiveDouble("shift", 1.0),
            UseDynamicShifting = c.GetBool("use_dynamic_shifting", false),
            BaseShift = c.GetFiniteDouble("base_shift", 0.5),
            MaxShift = c.GetFiniteDouble("max_shift", 1.15),
            BaseImageSeqLen = c.GetInt("base_image_seq_len", 256, 1, ConfigBounds.Positions),
            MaxImageSeqLen = c.GetInt("max_image_seq_len", 4096, 1, ConfigBounds.Positions),
            TimeShiftType = c.GetString("time_shift_type", "exponential")!,
            ShiftTerminal = terminal is 0.0 ? null : terminal, // diffusers tests truthiness: 0 means off
        };
    }
}

/// <summary>
/// Flow-matching Euler (diffusers' FlowMatchEulerDiscreteScheduler; SD3/3.5 and Flux). The sample moves along the
/// predicted velocity: x_{k+1} = x_k + (σ_{k+1} − σ_k)·v in float32. Schedule: without custom sigmas,
/// σ = linspace(σ_max·T, σ_min·T, n)/T in float64 (σ_max/σ_min from the float32 training table, which is shifted
/// when the shift is static); custom sigmas are taken as float32. Then the static shift s·σ/(1 + (s − 1)·σ), or with
/// dynamic shifting the μ time shift; optional terminal stretch; σ to float32, timesteps = σ·T in float32, final σ = 0.
/// The arithmetic is float64 on the default path and float32 on the custom-sigma path, as numpy does it there.
/// </summary>
public sealed class FlowMatchEulerDiscreteScheduler : IScheduler
{
    readonly FlowMatchEulerOptions _o;
    readonly double _sigmaMax, _sigmaMin;
    float[] _timesteps = [];
    float[] _sigmas = [];

    public FlowMatchEulerDiscreteScheduler(FlowMatchEulerOptions options)
    {
        _o = options;
        if (options.TimeShiftType is not ("exponential" or "linear"))
            throw new NotSupportedException($"{options.Source}: time_shift_type \"{options.TimeShiftType}\" is not supported (exponential or linear)");
        int T = options.NumTrainTimesteps;
        // Training table in float32 torch: σ_i = t_i / T for t = T … 1, statically shifted unless dynamic.
        float first = ShiftF32(T / (float)T), last = ShiftF32(1f / T);
        _sigmaMax = first;
        _sigmaMin = last;

        float ShiftF32(float s)
        {
            if (options.UseDynamicShifting) return s;
            float sh = (float)options.Shift;
            return sh * s / (1f + (float)(options.Shift - 1) * s);
        }
    }

    public FlowMatchEulerOptions Options => _o;
    public string ClassName => "FlowMatchEulerDiscreteScheduler";
    public int NumInferenceSteps => _timesteps.Length;
    public float[] Timesteps => _timesteps;
    public float[] Sigmas => _sigmas;
    public float InitNoiseSigma => 1f;
    /// <summary>Largest and smallest σ of the training table (as diffusers' sigma_max / sigma_min).</summary>
    public double SigmaMax => _sigmaMax;
    public double SigmaMin => _sigmaMin;

    /// <summary>
    /// μ for dynamic shifting from the number of image tokens, as the Flux pipeline's calculate_shift:
    /// linear in the sequence length through (base_seq, base_shift) and (max_seq, max_shift), in float64.
    /// </summary>
    public static double CalculateShift(int imageSeqLen, int baseSeqLen = 256, int maxSeqLen = 4096, double baseShift = 0.5, double maxShift = 1.15)
    {
        double m = (maxShift - baseShift) / (maxSeqLen - baseSeqLen);
        double b = baseShift - m * baseSeqLen;
        return imageSeqLen * m + b;
    }

    /// <summary><see cref="CalculateShift"/> with this scheduler's base/max settings.</summary>
    public double CalculateMu(int imageSeqLen) => CalculateShift(imageSeqLen, _o.BaseImageSeqLen, _o.MaxImageSeqLen, _o.BaseShift, _o.MaxShift);

    /// <summary>Flux's image sequence length: packed 2×2 latent tokens, (h/2)·(w/2) for a latent of h × w.</summary>
    public static int ImageSeqLen(int latentHeight, int latentWidth) => (latentHeight / 2) * (latentWidth / 2);

    public void SetTimesteps(int numInferenceSteps, double? mu = null, float[]? sigmas = null)
    {
        if (_o.UseDynamicShifting && mu is null)
            throw new ArgumentException($"{_o.Source}: use_dynamic_shifting is set, so SetTimesteps needs mu (e.g. CalculateMu(image sequence length))", nameof(mu));
        int T = _o.NumTrainTimesteps;
        double[] s;
        bool f32; // numpy dtype of the working array: float32 for custom sigmas, float64 otherwise
        if (sigmas is null)
        {
            if (numInferenceSteps < 1) throw new ArgumentOutOfRangeException(nameof(numInferenceSteps), numInferenceSteps, "need at least one inference step");
            s = NoiseSchedules.NumpyLinspace(_sigmaMax * T, _sigmaMin * T, numInferenceSteps);
            for (int i = 0; i < s.Length; i++) s[i] /= T;
            f32 = false;
        }
        else
        {
            if (sigmas.Length == 0) throw new ArgumentException("custom sigmas are empty", nameof(sigmas));
            s = sigmas.Select(v => (double)v).ToArray();
            f32 = true;
        }
        // Rounds a float64 result to float32 when numpy would compute in float32 (exact for + − × ÷ of float32 inputs).
        double R(double v) => f32 ? (float)v : v;

        if (_o.UseDynamicShifting)
        {
            double m = mu!.Value;
            double e = _o.TimeShiftType == "exponential" ? R(Math.Exp(m)) : R(m);
            for (int i = 0; i < s.Length; i++)
            {
                double p = R(R(1.0 / s[i]) - 1.0); // (1/σ − 1) ** 1.0
                s[i] = R(e / R(e + p));
            }
        }
        else
        {
            double sh = R(_o.Shift), shm1 = R(_o.Shift - 1);
            for (int i = 0; i < s.Length; i++) s[i] = R(R(sh * s[i]) / R(1 + R(shm1 * s[i])));
        }

        if (_o.ShiftTerminal is double terminal)
        {
            double scale = R(R(1 - s[^1]) / R(1 - terminal));
            for (int i = 0; i < s.Length; i++) s[i] = R(1 - R(R(1 - s[i]) / scale));
        }

        _sigmas = new float[s.Length + 1];
        _timesteps = new float[s.Length];
        for (int i = 0; i < s.Length; i++)
        {
            _sigmas[i] = (float)s[i];
            _timesteps[i] = _sigmas[i] * T;
        }
    }

    /// <summary>diffusers' set_begin_index for image-to-image: the schedule starts <paramref name="count"/> steps in.
    /// The steps before are dropped (timesteps and σ alike), so that step 0 is the first one run and every loop,
    /// which counts steps from 0, runs the rest as they are; <see cref="Sigmas"/>[0] is then the σ scale_noise mixes
    /// the image with.</summary>
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
        StepChecks.Index("FlowMatchEulerDiscreteScheduler", n, stepIndex);
        StepChecks.Lengths(modelOutput.Length, sample.Length);
        float dt = _sigmas[stepIndex + 1] - _sigmas[stepIndex];
        for (int i = 0; i < sample.Length; i++) sample[i] = sample[i] + dt * modelOutput[i];
    }
}
