using XDit.Runtime;

namespace XDit.Engine.Samplers;

/// <summary>
/// Settings of <see cref="UniPCMultistepScheduler"/>, named and defaulted as diffusers' UniPCMultistepScheduler config.
/// Implemented: the data-prediction form (predict_x0 true) with the B(h) variants bh1 / bh2 (midpoint, heun and logrho
/// mean bh2, as diffusers rewrites them), solver order 1–3, lower_order_final, disable_corrector, prediction epsilon /
/// v_prediction / sample / flow_prediction, flow sigmas with a static flow_shift (Wan 2.1) or the DDPM σ table at the
/// spaced timesteps, final σ zero or sigma_min. Everything else that changes the math is refused naming the file, key,
/// the value expected and the one found.
/// </summary>
public sealed record UniPCMultistepOptions
{
    /// <summary>num_train_timesteps and the β table's keys (only the DDPM σ table reads the β's).</summary>
    public TrainingSchedule Training { get; init; } = new();
    public int SolverOrder { get; init; } = 2;
    public string PredictionType { get; init; } = "epsilon";
    /// <summary>"bh1" (B(h) = h) or "bh2" (B(h) = e^h − 1).</summary>
    public string SolverType { get; init; } = "bh2";
    public bool LowerOrderFinal { get; init; } = true;
    /// <summary>Step indices after which the corrector is skipped (diffusers: the corrector at step k is skipped when
    /// k − 1 is listed).</summary>
    public IReadOnlySet<int> DisableCorrector { get; init; } = new HashSet<int>();
    public bool UseFlowSigmas { get; init; }
    public double FlowShift { get; init; } = 1.0;
    public string TimestepSpacing { get; init; } = "linspace";
    public int StepsOffset { get; init; }
    public string FinalSigmasType { get; init; } = "zero";
    /// <summary>Where the settings came from (named in errors).</summary>
    public string Source { get; init; } = "<UniPCMultistepOptions>";

    public static UniPCMultistepOptions FromConfig(JsonConfig c)
    {
        // keys that change the math and are not implemented: refused rather than silently differing
        RequireFalse(c, "thresholding");
        RequireFalse(c, "use_karras_sigmas");
        RequireFalse(c, "use_exponential_sigmas");
        RequireFalse(c, "use_beta_sigmas");
        RequireFalse(c, "rescale_betas_zero_snr");
        RequireFalse(c, "use_dynamic_shifting");
        if (!c.GetBool("predict_x0", true))
            throw new NotSupportedException($"{c.Path}: predict_x0 expected true (the data-prediction UniPC), found false");
        foreach (var key in new[] { "solver_p", "shift_terminal" })
            if (c.Has(key))
                throw new NotSupportedException($"{c.Path}: {key} expected null (not implemented), found {c.Get(key).GetRawText()}");
        // time_shift_type, sigma_min and sigma_max act only with dynamic shifting or Karras/exponential/beta sigmas
        // (refused above); dynamic_thresholding_ratio and sample_max_value only with thresholding
        var timeShift = c.GetString("time_shift_type", "exponential");
        if (timeShift is not ("exponential" or "linear"))
            throw new NotSupportedException($"{c.Path}: time_shift_type expected exponential or linear, found {timeShift}");

        var solverType = c.GetString("solver_type", "bh2")!;
        var o = new UniPCMultistepOptions
        {
            Source = c.Path,
            Training = TrainingSchedule.From(c),
            SolverOrder = c.GetInt("solver_order", 2, 1, 3),
            PredictionType = c.GetString("prediction_type", "epsilon")!,
            SolverType = solverType is "midpoint" or "heun" or "logrho" ? "bh2" : solverType,
            LowerOrderFinal = c.GetBool("lower_order_final", true),
            DisableCorrector = c.Has("disable_corrector") ? c.GetIntArray("disable_corrector").ToHashSet() : new HashSet<int>(),
            UseFlowSigmas = c.GetBool("use_flow_sigmas", false),
            FlowShift = c.GetPositiveDouble("flow_shift", 1.0),
            TimestepSpacing = c.GetString("timestep_spacing", "linspace")!,
            StepsOffset = c.GetInt("steps_offset", 0, 0, ConfigBounds.TrainTimesteps),
            FinalSigmasType = c.GetString("final_sigmas_type", "zero")!,
        };
        o.Validate();
        return o;
    }

    /// <summary>Refuses, naming <see cref="Source"/>, the key, the values expected and the one found, a setting the
    /// scheduler does not implement.</summary>
    public void Validate()
    {
        if (SolverType is not ("bh1" or "bh2"))
            throw new NotSupportedException($"{Source}: solver_type expected bh1 or bh2 (midpoint, heun, logrho mean bh2), found {SolverType}");
        if (SolverOrder is < 1 or > 3)
            throw new NotSupportedException($"{Source}: solver_order expected 1, 2 or 3, found {SolverOrder}");
        if (PredictionType is not ("epsilon" or "v_prediction" or "sample" or "flow_prediction"))
            throw new NotSupportedException($"{Source}: prediction_type expected epsilon, v_prediction, sample or flow_prediction, found {PredictionType}");
        if (PredictionType == "flow_prediction" && !UseFlowSigmas)
            throw new NotSupportedException($"{Source}: use_flow_sigmas expected true with prediction_type flow_prediction, found false");
        if (FinalSigmasType is not ("zero" or "sigma_min"))
            throw new NotSupportedException($"{Source}: final_sigmas_type expected zero or sigma_min, found {FinalSigmasType}");
        if (TimestepSpacing is not ("linspace" or "leading" or "trailing"))
            throw new NotSupportedException($"{Source}: timestep_spacing expected linspace, leading or trailing, found {TimestepSpacing}");
    }

    static void RequireFalse(JsonConfig c, string key)
    {
        if (c.GetBool(key, false))
            throw new NotSupportedException($"{c.Path}: {key} expected false (not implemented by this UniPCMultistepScheduler), found true");
    }
}
