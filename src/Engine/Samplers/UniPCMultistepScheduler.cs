namespace XDit.Engine.Samplers;

/// <summary>
/// UniPC (Zhao et al. 2023), diffusers' UniPCMultistepScheduler in its data-prediction form; Wan 2.1's sampler
/// (flow_prediction, flow sigmas shifted by flow_shift, bh2, order 2). Schedule: with flow sigmas
/// σ = shift(linspace(1, 1/T, n + 1)[:-1]) in float64 (σ_0 nudged to 1 − 10⁻⁶ so that log(1 − σ_0) stays finite),
/// timesteps σ·T truncated; otherwise the spaced integer timesteps and the float32 DDPM σ there. Then the final σ
/// (0 or the last σ / the first training σ for sigma_min), all stored as float32.
/// Step k: converts the model output to x0 at σ_k; unless k = 0 (or the corrector is disabled after k − 1), first
/// corrects the sample with UniC of the previous step's order (its x0 history plus the new x0); then predicts
/// σ_{k+1} with UniP of order min(solver_order, warm-up, steps left when lower_order_final). The scalar coefficients
/// are computed in float32 as torch does on 0-dim tensors, the sample arithmetic elementwise in float32.
/// </summary>
public sealed class UniPCMultistepScheduler : IScheduler
{
    readonly UniPCMultistepOptions _o;
    readonly float[] _trainSigmas;
    float[] _timesteps = [];
    float[] _sigmas = [];
    readonly List<float[]> _x0 = new();   // converted model outputs, oldest first, at most solver_order
    float[]? _lastSample;                  // the sample the previous predictor started from (after its correction)
    int _lastOrder;                        // the order of the previous predictor, which the corrector repeats
    int _lowerOrderNums;
    int _nextStep = -1;

    public UniPCMultistepScheduler(UniPCMultistepOptions options)
    {
        options.Validate();
        _o = options;
        _trainSigmas = NoiseSchedules.TrainSigmas(options.Training.AlphasCumprod());
    }

    public UniPCMultistepOptions Options => _o;
    public string ClassName => "UniPCMultistepScheduler";
    public int NumInferenceSteps => _timesteps.Length;
    public float[] Timesteps => _timesteps;
    public float[] Sigmas => _sigmas;
    public float InitNoiseSigma => 1f;

    public void SetTimesteps(int numInferenceSteps, double? mu = null, float[]? sigmas = null)
    {
        if (sigmas is not null && !_o.UseFlowSigmas)
            throw new NotSupportedException($"{_o.Source}: custom sigmas need use_flow_sigmas = true (as in diffusers)");
        int n = sigmas?.Length ?? numInferenceSteps;
        int T = _o.Training.NumTrainTimesteps;
        if (n < 1) throw new ArgumentOutOfRangeException(nameof(numInferenceSteps), n, "need at least one inference step");

        double[] sig;
        long[] ts;
        double last;
        if (_o.UseFlowSigmas)
        {
            // custom sigmas are shifted too, as diffusers does
            double[] raw = sigmas?.Select(v => (double)v).ToArray() ?? NoiseSchedules.NumpyLinspace(1, 1.0 / T, n + 1)[..n];
            double s = _o.FlowShift;
            sig = raw.Select(x => s * x / (1 + (s - 1) * x)).ToArray();
            if (Math.Abs(sig[0] - 1) < 1e-6) sig[0] -= 1e-6;
            ts = sig.Select(v => (long)(v * T)).ToArray();   // torch's float64 → int64 cast truncates
            last = _o.FinalSigmasType == "zero" ? 0.0 : sig[^1];
        }
        else
        {
            if (n > T) throw new ArgumentOutOfRangeException(nameof(numInferenceSteps), n, $"must be at most num_train_timesteps = {T}");
            ts = NoiseSchedules.MultistepTimesteps(_o.TimestepSpacing, T, T, n, _o.StepsOffset);
            foreach (var t in ts)
                if (t < 0 || t >= T) throw new ArgumentOutOfRangeException(nameof(numInferenceSteps), $"{_o.Source}: timestep {t} outside [0, {T}) (steps_offset {_o.StepsOffset}, spacing {_o.TimestepSpacing})");
            sig = ts.Select(t => (double)_trainSigmas[t]).ToArray();   // np.interp at integer points
            last = _o.FinalSigmasType == "zero" ? 0.0 : _trainSigmas[0];
        }

        _sigmas = new float[sig.Length + 1];
        for (int k = 0; k < sig.Length; k++) _sigmas[k] = (float)sig[k];
        _sigmas[^1] = (float)last;
        _timesteps = ts.Select(t => (float)t).ToArray();
        Reset();
    }

    public void Reset()
    {
        _x0.Clear();
        _lastSample = null;
        _lastOrder = 0;
        _lowerOrderNums = 0;
        _nextStep = -1;
    }

    (float Alpha, float Sigma) AlphaSigma(float sigma) => DataPrediction.AlphaSigma(sigma, _o.UseFlowSigmas);

    float Lambda(int index)
    {
        var (a, s) = AlphaSigma(_sigmas[index]);
        return MathF.Log(a) - MathF.Log(s);
    }

    public void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample)
    {
        int n = _timesteps.Length;
        StepChecks.Index(ClassName, n, stepIndex);
        if (_nextStep >= 0 && stepIndex != _nextStep)
            throw new InvalidOperationException($"{ClassName}: step {stepIndex} called, expected {_nextStep} (multistep history is kept in order; Reset to restart)");
        StepChecks.Lengths(modelOutput.Length, sample.Length);

        var x0 = ConvertModelOutput(modelOutput, stepIndex, sample);
        if (stepIndex > 0 && _lastSample is not null && !_o.DisableCorrector.Contains(stepIndex - 1))
            Correct(x0, stepIndex, sample);

        if (_x0.Count == _o.SolverOrder) _x0.RemoveAt(0);
        _x0.Add(x0);
        int order = _o.LowerOrderFinal ? Math.Min(_o.SolverOrder, n - stepIndex) : _o.SolverOrder;
        order = Math.Min(order, _lowerOrderNums + 1);   // warm-up
        _lastOrder = order;
        _lastSample = sample.ToArray();
        Predict(stepIndex, order, sample);

        if (_lowerOrderNums < _o.SolverOrder) _lowerOrderNums++;
        _nextStep = stepIndex + 1;
    }

    /// <summary>The data prediction x0 at σ_k (diffusers' convert_model_output with predict_x0).</summary>
    float[] ConvertModelOutput(ReadOnlySpan<float> m, int k, ReadOnlySpan<float> x)
    {
        var (alpha, sigma) = AlphaSigma(_sigmas[k]);
        var x0 = new float[x.Length];
        DataPrediction.Into(x0, m, x, _o.PredictionType, alpha, sigma);
        return x0;
    }

    /// <summary>The B(h) coefficients of one UniP/UniC update from λ_s0 to λ_t: hφ₁ = e^{−h} − 1, B(h), and the
    /// right-hand side b_i = (hφ_i · i!) / B(h), i = 1 … order (diffusers' recursion, in float32).</summary>
    (float HPhi1, float Bh, float[] B) Coefficients(float h, int order)
    {
        float hh = -h;
        float hPhi1 = Expm1(hh);
        float hPhiK = hPhi1 / hh - 1f;
        float bh = _o.SolverType == "bh1" ? hh : Expm1(hh);
        var b = new float[order];
        int factorial = 1;
        for (int i = 1; i <= order; i++)
        {
            b[i - 1] = hPhiK * factorial / bh;
            factorial *= i + 1;
            hPhiK = hPhiK / hh - (float)(1.0 / factorial);
        }
        return (hPhi1, bh, b);
    }

    /// <summary>UniP from σ_k to σ_{k+1} of the given order on <paramref name="x"/> (the corrected sample).</summary>
    void Predict(int k, int order, Span<float> x)
    {
        var (alphaT, sigmaT) = AlphaSigma(_sigmas[k + 1]);
        var (_, sigmaS0) = AlphaSigma(_sigmas[k]);
        float lambdaS0 = Lambda(k);
        float h = Lambda(k + 1) - lambdaS0;
        var m0 = _x0[^1];

        // D1_i = (x0_{k−i} − x0_k) / r_i with r_i = (λ_{k−i} − λ_k) / h, i = 1 … order − 1
        var rks = new float[order];
        var d1s = new float[order - 1][];
        for (int i = 1; i < order; i++)
        {
            rks[i - 1] = (Lambda(k - i) - lambdaS0) / h;
            d1s[i - 1] = Difference(_x0[^(i + 1)], m0, rks[i - 1]);
        }
        rks[^1] = 1f;
        var (hPhi1, bh, b) = Coefficients(h, order);
        // order 2 uses ρ = 1/2 (diffusers' simplification), higher orders solve R ρ = b without the last row/column
        float[] rhos = order == 1 ? [] : order == 2 ? [0.5f] : Solve(Vandermonde(rks, order - 1), b[..(order - 1)]);

        float c1 = sigmaT / sigmaS0, c2 = alphaT * hPhi1, c3 = alphaT * bh;
        for (int i = 0; i < x.Length; i++)
        {
            float v = c1 * x[i] - c2 * m0[i];
            if (d1s.Length > 0) v -= c3 * Dot(rhos, d1s, i);
            x[i] = v;
        }
    }

    /// <summary>UniC at step k (k ≥ 1): corrects <paramref name="x"/> (the predictor's result from step k − 1) with the
    /// new data prediction <paramref name="x0"/>, repeating the previous predictor's order.</summary>
    void Correct(float[] x0, int k, Span<float> x)
    {
        int order = _lastOrder;
        var last = _lastSample!;
        var (alphaT, sigmaT) = AlphaSigma(_sigmas[k]);
        var (_, sigmaS0) = AlphaSigma(_sigmas[k - 1]);
        float lambdaS0 = Lambda(k - 1);
        float h = Lambda(k) - lambdaS0;
        var m0 = _x0[^1];

        var rks = new float[order];
        var d1s = new float[order - 1][];
        for (int i = 1; i < order; i++)
        {
            rks[i - 1] = (Lambda(k - 1 - i) - lambdaS0) / h;
            d1s[i - 1] = Difference(_x0[^(i + 1)], m0, rks[i - 1]);
        }
        rks[^1] = 1f;
        var (hPhi1, bh, b) = Coefficients(h, order);
        float[] rhos = order == 1 ? [0.5f] : Solve(Vandermonde(rks, order), b);
        var rhosHead = rhos[..^1];
        float rhoLast = rhos[^1];

        float c1 = sigmaT / sigmaS0, c2 = alphaT * hPhi1, c3 = alphaT * bh;
        for (int i = 0; i < x.Length; i++)
        {
            float corr = rhoLast * (x0[i] - m0[i]);
            if (d1s.Length > 0) corr = Dot(rhosHead, d1s, i) + corr;
            x[i] = c1 * last[i] - c2 * m0[i] - c3 * corr;
        }
    }

    static float[] Difference(float[] mi, float[] m0, float rk)
    {
        var d = new float[m0.Length];
        for (int i = 0; i < d.Length; i++) d[i] = (mi[i] - m0[i]) / rk;
        return d;
    }

    static float Dot(float[] rhos, float[][] d1s, int i)
    {
        float s = rhos[0] * d1s[0][i];
        for (int j = 1; j < rhos.Length; j++) s += rhos[j] * d1s[j][i];
        return s;
    }

    /// <summary>R[i][j] = r_j^i for i, j &lt; size (the rows torch.pow(rks, i) of diffusers).</summary>
    static float[,] Vandermonde(float[] rks, int size)
    {
        var r = new float[size, size];
        for (int i = 0; i < size; i++)
            for (int j = 0; j < size; j++)
                r[i, j] = i == 0 ? 1f : r[i - 1, j] * rks[j];
        return r;
    }

    /// <summary>torch.linalg.solve for these 2×2 and 3×3 systems: LU with partial pivoting in float32.</summary>
    static float[] Solve(float[,] a, float[] b)
    {
        int n = b.Length;
        a = (float[,])a.Clone();
        var x = (float[])b.Clone();
        for (int c = 0; c < n; c++)
        {
            int p = c;
            for (int r = c + 1; r < n; r++) if (MathF.Abs(a[r, c]) > MathF.Abs(a[p, c])) p = r;
            if (p != c)
            {
                for (int j = 0; j < n; j++) (a[c, j], a[p, j]) = (a[p, j], a[c, j]);
                (x[c], x[p]) = (x[p], x[c]);
            }
            for (int r = c + 1; r < n; r++)
            {
                float f = a[r, c] / a[c, c];
                for (int j = c; j < n; j++) a[r, j] -= f * a[c, j];
                x[r] -= f * x[c];
            }
        }
        for (int r = n - 1; r >= 0; r--)
        {
            float s = x[r];
            for (int j = r + 1; j < n; j++) s -= a[r, j] * x[j];
            x[r] = s / a[r, r];
        }
        return x;
    }

    /// <summary>e^x − 1 rounded to float32 (torch.expm1): from the float64 exponential, whose cancellation error is
    /// far below float32's resolution for |x| ≥ 1e−5, and the series below that.</summary>
    static float Expm1(float x)
    {
        double d = x;
        return Math.Abs(d) < 1e-5 ? (float)(d + d * d / 2 + d * d * d / 6) : (float)(Math.Exp(d) - 1.0);
    }
}
