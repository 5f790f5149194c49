using XDit.Runtime;

namespace XDit.Engine.Samplers;

/// <summary>
/// Settings of <see cref="DPMSolverMultistepScheduler"/>, named and defaulted as diffusers' scheduler_config.json.
/// Supported: algorithm dpmsolver++ (deis maps to it, as in diffusers), solver order 1–3, midpoint or heun,
/// prediction epsilon / v_prediction / sample / flow_prediction (the last with use_flow_sigmas), timestep spacing
/// linspace / leading / trailing, β schedules linear / scaled_linear / squaredcos_cap_v2 / trained_betas,
/// Karras sigmas, final sigma zero or sigma_min, lambda_min_clipped. Anything else is refused by name.
/// </summary>
public sealed record DPMSolverMultistepOptions
{
    /// <summary>num_train_timesteps and the β table's keys.</summary>
    public TrainingSchedule Training { get; init; } = new();
    public int SolverOrder { get; init; } = 2;
    public string PredictionType { get; init; } = "epsilon";
    public string AlgorithmType { get; init; } = "dpmsolver++";
    public string SolverType { get; init; } = "midpoint";
    public bool LowerOrderFinal { get; init; } = true;
    public bool EulerAtFinal { get; init; }
    public bool UseKarrasSigmas { get; init; }
    public bool UseFlowSigmas { get; init; }
    public double FlowShift { get; init; } = 1.0;
    public string FinalSigmasType { get; init; } = "zero";
    public double LambdaMinClipped { get; init; } = double.NegativeInfinity;
    public string TimestepSpacing { get; init; } = "linspace";
    public int StepsOffset { get; init; }
    /// <summary>Where the settings came from (named in errors).</summary>
    public string Source { get; init; } = "<DPMSolverMultistepOptions>";

    public static DPMSolverMultistepOptions FromConfig(JsonConfig c)
    {
        // Options that change the math and are not implemented: refuse rather than silently differ.
        Refuse(c, "thresholding", "true");
        Refuse(c, "rescale_betas_zero_snr", "true");
        Refuse(c, "use_lu_lambdas", "true");
        Refuse(c, "use_exponential_sigmas", "true");
        Refuse(c, "use_beta_sigmas", "true");
        Refuse(c, "use_dynamic_shifting", "true");
        if (c.Has("variance_type"))
            throw new NotSupportedException($"{c.Path}: variance_type \"{c.GetString("variance_type")}\" is not supported (slice the model output to its mean channels before Step)");
        var o = new DPMSolverMultistepOptions
        {
            Source = c.Path,
            Training = TrainingSchedule.From(c),
            SolverOrder = c.GetInt("solver_order", 2, 1, 3),
            PredictionType = c.GetString("prediction_type", "epsilon")!,
            AlgorithmType = c.GetString("algorithm_type", "dpmsolver++")!,
            SolverType = c.GetString("solver_type", "midpoint")!,
            LowerOrderFinal = c.GetBool("lower_order_final", true),
            EulerAtFinal = c.GetBool("euler_at_final", false),
            UseKarrasSigmas = c.GetBool("use_karras_sigmas", false),
            UseFlowSigmas = c.GetBool("use_flow_sigmas", false),
            FlowShift = c.GetPositiveDouble("flow_shift", 1.0),
            FinalSigmasType = c.GetString("final_sigmas_type", "zero")!,
            LambdaMinClipped = c.GetDouble("lambda_min_clipped", double.NegativeInfinity),
            TimestepSpacing = c.GetString("timestep_spacing", "linspace")!,
            StepsOffset = c.GetInt("steps_offset", 0, 0, ConfigBounds.TrainTimesteps),
        };
        return o;
    }

    static void Refuse(JsonConfig c, string key, string what)
    {
        if (c.GetBool(key, false))
            throw new NotSupportedException($"{c.Path}: {key} = {what} is not supported by this DPMSolverMultistepScheduler");
    }
}

/// <summary>
/// DPM-Solver++ multistep (diffusers' DPMSolverMultistepScheduler; PixArt's sampler). Schedule: integer timesteps
/// by the configured spacing, σ_k = the float32 training σ at t_k (or Karras / flow sigmas), then the final σ
/// (0 or σ_min). Step k turns the model output into a data prediction x0 (in float32, with α(σ) = 1/√(σ²+1),
/// s(σ) = σ·α(σ), or α = 1 − σ, s = σ for flow sigmas), keeps the last <c>solver_order</c> of them, and advances
/// with the order-1/2/3 exponential-integrator update in λ = ln α − ln s. Lower order is used for the first steps
/// (warm-up), at the last step when the final σ is zero, euler_at_final is set, or lower_order_final holds with
/// fewer than 15 steps, and at the second-to-last step in that last case.
/// </summary>
public sealed class DPMSolverMultistepScheduler : IScheduler
{
    readonly DPMSolverMultistepOptions _o;
    readonly float[] _alphasCumprod;
    readonly float[] _trainSigmas;
    float[] _timesteps = [];
    float[] _sigmas = [];
    readonly List<float[]> _history = new(); // converted model outputs (x0), oldest first
    int _lowerOrderNums;
    int _nextStep = -1;

    public DPMSolverMultistepScheduler(DPMSolverMultistepOptions options)
    {
        _o = options;
        string src = options.Source;
        if (options.AlgorithmType is not ("dpmsolver++" or "deis"))
            throw new NotSupportedException($"{src}: algorithm_type \"{options.AlgorithmType}\" is not supported (only dpmsolver++)");
        if (options.SolverType is not ("midpoint" or "heun" or "logrho" or "bh1" or "bh2"))
            throw new NotSupportedException($"{src}: solver_type \"{options.SolverType}\" is not supported (midpoint or heun)");
        if (options.SolverOrder is < 1 or > 3)
            throw new NotSupportedException($"{src}: solver_order {options.SolverOrder} is not supported (1, 2 or 3)");
        if (options.PredictionType is not ("epsilon" or "v_prediction" or "sample" or "flow_prediction"))
            throw new NotSupportedException($"{src}: prediction_type \"{options.PredictionType}\" is not supported (epsilon, v_prediction, sample, flow_prediction)");
        if (options.PredictionType == "flow_prediction" && !options.UseFlowSigmas)
            throw new NotSupportedException($"{src}: prediction_type flow_prediction needs use_flow_sigmas = true");
        if (options.FinalSigmasType is not ("zero" or "sigma_min"))
            throw new NotSupportedException($"{src}: final_sigmas_type \"{options.FinalSigmasType}\" is not supported (zero or sigma_min)");
        if (options.TimestepSpacing is not ("linspace" or "leading" or "trailing"))
            throw new NotSupportedException($"{src}: timestep_spacing \"{options.TimestepSpacing}\" is not supported (linspace, leading or trailing)");
        if (options.UseKarrasSigmas && options.UseFlowSigmas)
            throw new NotSupportedException($"{src}: use_karras_sigmas and use_flow_sigmas are exclusive");
        _alphasCumprod = options.Training.AlphasCumprod();
        _trainSigmas = NoiseSchedules.TrainSigmas(_alphasCumprod);
    }

    public DPMSolverMultistepOptions Options => _o;
    public string ClassName => "DPMSolverMultistepScheduler";
    public int NumInferenceSteps => _timesteps.Length;
    public float[] Timesteps => _timesteps;
    public float[] Sigmas => _sigmas;
    public float InitNoiseSigma => 1f;

    public void SetTimesteps(int numInferenceSteps, double? mu = null, float[]? sigmas = null)
    {
        if (sigmas is not null) throw new NotSupportedException($"{_o.Source}: DPMSolverMultistepScheduler takes no custom sigmas");
        if (numInferenceSteps < 1) throw new ArgumentOutOfRangeException(nameof(numInferenceSteps), numInferenceSteps, "need at least one inference step");
        int n = numInferenceSteps;
        int T = _o.Training.NumTrainTimesteps;
        int lastTimestep = T - ClippedIndex();

        long[] ts = NoiseSchedules.MultistepTimesteps(_o.TimestepSpacing, lastTimestep, T, n, _o.StepsOffset);

        double[] sig;
        if (_o.UseKarrasSigmas)
        {
            sig = KarrasSigmas(n);
            var logSigmas = _trainSigmas.Select(s => (double)MathF.Log(s)).ToArray();
            ts = sig.Select(s => (long)Math.Round(SigmaToT(s, logSigmas), MidpointRounding.ToEven)).ToArray();
        }
        else if (_o.UseFlowSigmas)
        {
            // σ = flip(shift(1 − linspace(1, 1/T, n+1)))[:-1]; timesteps = σ·T truncated to int64 by the torch cast.
            var alphas = NoiseSchedules.NumpyLinspace(1, 1.0 / T, n + 1);
            double s = _o.FlowShift;
            sig = new double[n];
            for (int k = 0; k < n; k++)
            {
                double x = 1.0 - alphas[n - k];
                sig[k] = s * x / (1 + (s - 1) * x);
            }
            ts = sig.Select(v => (long)(v * T)).ToArray();
        }
        else
        {
            sig = new double[ts.Length];
            for (int k = 0; k < ts.Length; k++) sig[k] = Interp(ts[k]);
        }

        double last = _o.FinalSigmasType == "zero" ? 0.0 : MathF.Sqrt((1f - _alphasCumprod[0]) / _alphasCumprod[0]);
        _sigmas = new float[sig.Length + 1];
        for (int k = 0; k < sig.Length; k++) _sigmas[k] = (float)sig[k];
        _sigmas[^1] = (float)last;
        _timesteps = ts.Select(t => (float)t).ToArray();
        Reset();
    }

    /// <summary>numpy.interp on the training σ table at an integer (or out-of-range, clamped) timestep.</summary>
    double Interp(long t)
    {
        if (t <= 0) return _trainSigmas[0];
        if (t >= _trainSigmas.Length - 1) return _trainSigmas[^1];
        return _trainSigmas[t];
    }

    /// <summary>How many λ_t (ascending after the flip) lie below lambda_min_clipped: torch.searchsorted, left side.</summary>
    int ClippedIndex()
    {
        if (double.IsNegativeInfinity(_o.LambdaMinClipped)) return 0;
        int count = 0;
        for (int i = _alphasCumprod.Length - 1; i >= 0; i--)
        {
            float a = MathF.Sqrt(_alphasCumprod[i]), s = MathF.Sqrt(1f - _alphasCumprod[i]);
            float lambda = MathF.Log(a) - MathF.Log(s);
            if (lambda < _o.LambdaMinClipped) count++; else break;
        }
        return count;
    }

    /// <summary>Karras et al. (2022) ρ = 7 schedule between the largest and smallest training σ (float64).</summary>
    double[] KarrasSigmas(int n)
    {
        double sigmaMin = _trainSigmas[0], sigmaMax = _trainSigmas[^1];
        double rho = 7.0, minInv = Math.Pow(sigmaMin, 1 / rho), maxInv = Math.Pow(sigmaMax, 1 / rho);
        var ramp = NoiseSchedules.NumpyLinspace(0, 1, n);
        return ramp.Select(r => Math.Pow(maxInv + r * (minInv - maxInv), rho)).ToArray();
    }

    /// <summary>Fractional training timestep of σ by linear interpolation in log σ (diffusers' _sigma_to_t).</summary>
    static double SigmaToT(double sigma, double[] logSigmas)
    {
        double logSigma = Math.Log(Math.Max(sigma, 1e-10));
        int low = 0;
        for (int i = 0; i < logSigmas.Length; i++) if (logSigma - logSigmas[i] >= 0) low = i;
        low = Math.Min(low, logSigmas.Length - 2);
        int high = low + 1;
        double w = (logSigmas[low] - logSigma) / (logSigmas[low] - logSigmas[high]);
        w = Math.Clamp(w, 0, 1);
        return (1 - w) * low + w * high;
    }

    public void Reset()
    {
        _history.Clear();
        _lowerOrderNums = 0;
        _nextStep = -1;
    }

    (float Alpha, float Sigma) AlphaSigma(float sigma) => DataPrediction.AlphaSigma(sigma, _o.UseFlowSigmas);

    public void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample)
    {
        int n = _timesteps.Length;
        StepChecks.Index("DPMSolverMultistepScheduler", n, stepIndex);
        if (_nextStep >= 0 && stepIndex != _nextStep)
            throw new InvalidOperationException($"DPMSolverMultistepScheduler: step {stepIndex} called, expected {_nextStep} (multistep history is kept in order; Reset to restart)");
        StepChecks.Lengths(modelOutput.Length, sample.Length);

        bool lowerOrderFinal = stepIndex == n - 1 && (_o.EulerAtFinal || (_o.LowerOrderFinal && n < 15) || _o.FinalSigmasType == "zero");
        bool lowerOrderSecond = stepIndex == n - 2 && _o.LowerOrderFinal && n < 15;

        // 1. Data prediction x0 from the model output, at σ_k (float32).
        var (alphaS0, sigmaS0) = AlphaSigma(_sigmas[stepIndex]);
        var x0 = _history.Count == _o.SolverOrder ? RecycleOldest() : new float[sample.Length];
        if (x0.Length != sample.Length) x0 = new float[sample.Length];
        DataPrediction.Into(x0, modelOutput, sample, _o.PredictionType, alphaS0, sigmaS0);
        _history.Add(x0);

        // 2. Update with the order the warm-up and the final-step rules allow.
        if (_o.SolverOrder == 1 || _lowerOrderNums < 1 || lowerOrderFinal) FirstOrder(stepIndex, sample);
        else if (_o.SolverOrder == 2 || _lowerOrderNums < 2 || lowerOrderSecond) SecondOrder(stepIndex, sample);
        else ThirdOrder(stepIndex, sample);

        if (_lowerOrderNums < _o.SolverOrder) _lowerOrderNums++;
        _nextStep = stepIndex + 1;
    }

    float[] RecycleOldest()
    {
        var a = _history[0];
        _history.RemoveAt(0);
        return a;
    }

    float Lambda(float alpha, float sigma) => MathF.Log(alpha) - MathF.Log(sigma);

    void FirstOrder(int k, Span<float> x)
    {
        var (alphaT, sigmaT) = AlphaSigma(_sigmas[k + 1]);
        var (alphaS, sigmaS) = AlphaSigma(_sigmas[k]);
        float h = Lambda(alphaT, sigmaT) - Lambda(alphaS, sigmaS);
        // At σ_{k+1} = 0: λ = +∞, e^{−h} = 0, σ_t/σ_s = 0, so x_{k+1} = x0 (IEEE semantics, as in torch).
        float c1 = sigmaT / sigmaS, c2 = alphaT * (MathF.Exp(-h) - 1f);
        var d0 = _history[^1];
        for (int i = 0; i < x.Length; i++) x[i] = c1 * x[i] - c2 * d0[i];
    }

    void SecondOrder(int k, Span<float> x)
    {
        var (alphaT, sigmaT) = AlphaSigma(_sigmas[k + 1]);
        var (alphaS0, sigmaS0) = AlphaSigma(_sigmas[k]);
        var (alphaS1, sigmaS1) = AlphaSigma(_sigmas[k - 1]);
        float lambdaT = Lambda(alphaT, sigmaT), lambdaS0 = Lambda(alphaS0, sigmaS0), lambdaS1 = Lambda(alphaS1, sigmaS1);
        float h = lambdaT - lambdaS0, h0 = lambdaS0 - lambdaS1;
        float r0 = h0 / h;
        float invR0 = 1f / r0;
        float em1 = MathF.Exp(-h) - 1f;
        float c1 = sigmaT / sigmaS0, c2 = alphaT * em1;
        float c3 = _o.SolverType == "heun" ? alphaT * (em1 / h + 1f) : 0.5f * c2;
        bool heun = _o.SolverType == "heun";
        var m0 = _history[^1];
        var m1 = _history[^2];
        for (int i = 0; i < x.Length; i++)
        {
            float d1 = invR0 * (m0[i] - m1[i]);
            float a = c1 * x[i] - c2 * m0[i];
            x[i] = heun ? a + c3 * d1 : a - c3 * d1;
        }
    }

    void ThirdOrder(int k, Span<float> x)
    {
        var (alphaT, sigmaT) = AlphaSigma(_sigmas[k + 1]);
        var (alphaS0, sigmaS0) = AlphaSigma(_sigmas[k]);
        var (alphaS1, sigmaS1) = AlphaSigma(_sigmas[k - 1]);
        var (alphaS2, sigmaS2) = AlphaSigma(_sigmas[k - 2]);
        float lambdaT = Lambda(alphaT, sigmaT), lambdaS0 = Lambda(alphaS0, sigmaS0);
        float lambdaS1 = Lambda(alphaS1, sigmaS1), lambdaS2 = Lambda(alphaS2, sigmaS2);
        float h = lambdaT - lambdaS0, h0 = lambdaS0 - lambdaS1, h1 = lambdaS1 - lambdaS2;
        float r0 = h0 / h, r1 = h1 / h;
        float invR0 = 1f / r0, invR1 = 1f / r1, w = r0 / (r0 + r1), invR01 = 1f / (r0 + r1);
        float em1 = MathF.Exp(-h) - 1f;
        float c1 = sigmaT / sigmaS0, c2 = alphaT * em1, c3 = alphaT * (em1 / h + 1f), c4 = alphaT * ((em1 + h) / (h * h) - 0.5f);
        var m0 = _history[^1];
        var m1 = _history[^2];
        var m2 = _history[^3];
        for (int i = 0; i < x.Length; i++)
        {
            float d10 = invR0 * (m0[i] - m1[i]), d11 = invR1 * (m1[i] - m2[i]);
            float diff = d10 - d11;
            float d1 = d10 + w * diff, d2 = invR01 * diff;
            x[i] = c1 * x[i] - c2 * m0[i] + c3 * d1 - c4 * d2;
        }
    }
}
