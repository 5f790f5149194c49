using XDit.Runtime;

namespace XDit.Engine.Samplers;

/// <summary>
/// Settings of the two CogVideoX samplers (<see cref="CogVideoXDDIMScheduler"/>, <see cref="CogVideoXDPMScheduler"/>),
/// named and defaulted as diffusers' CogVideoXDDIMScheduler / CogVideoXDPMScheduler configs: the usual DDPM keys with
/// CogVideoX's defaults (scaled_linear 0.00085 … 0.012), plus snr_shift_scale and rescale_betas_zero_snr, which
/// reshape ᾱ (<see cref="AlphasCumprod"/>). clip_sample and its range are read for the record but not applied: the
/// CogVideoX steps never clip x0 (thresholding is refused, as it is not implemented there either).
/// </summary>
public sealed record CogVideoXScheduleOptions
{
    /// <summary>num_train_timesteps and the β table's keys (CogVideoX defaults, not DDPM's).</summary>
    public TrainingSchedule Training { get; init; } = new() { BetaStart = 0.00085, BetaEnd = 0.012, BetaSchedule = "scaled_linear" };
    public bool SetAlphaToOne { get; init; } = true;
    public int StepsOffset { get; init; }
    public string PredictionType { get; init; } = "epsilon";
    public string TimestepSpacing { get; init; } = "leading";
    /// <summary>ᾱ ← ᾱ / (s + (1 − s)·ᾱ): divides the signal-to-noise ratio ᾱ/(1 − ᾱ) by s (CogVideoX-2b: 3, 5b: 1).</summary>
    public double SnrShiftScale { get; init; } = 3.0;
    /// <summary>Rescales √ᾱ so that the last training step has zero SNR (Lin et al. 2023, Algorithm 1).</summary>
    public bool RescaleBetasZeroSnr { get; init; }
    public string Source { get; init; } = "<CogVideoXScheduleOptions>";

    public static CogVideoXScheduleOptions FromConfig(JsonConfig c)
    {
        if (c.GetBool("thresholding", false)) throw new NotSupportedException($"{c.Path}: thresholding = true is not supported by the CogVideoX schedulers");
        var training = new TrainingSchedule
        {
            Source = c.Path,
            NumTrainTimesteps = c.GetInt("num_train_timesteps", 1000, 1, ConfigBounds.TrainTimesteps),
            BetaStart = c.GetPositiveDouble("beta_start", 0.00085),
            BetaEnd = c.GetPositiveDouble("beta_end", 0.012),
            BetaSchedule = c.GetString("beta_schedule", "scaled_linear")!,
            TrainedBetas = c.Has("trained_betas") ? c.GetDoubleArray("trained_betas") : null,
        };
        training.Validate();
        var o = new CogVideoXScheduleOptions
        {
            Source = c.Path,
            Training = training,
            SetAlphaToOne = c.GetBool("set_alpha_to_one", true),
            StepsOffset = c.GetInt("steps_offset", 0, 0, ConfigBounds.TrainTimesteps),
            PredictionType = c.GetString("prediction_type", "epsilon")!,
            TimestepSpacing = c.GetString("timestep_spacing", "leading")!,
            SnrShiftScale = c.GetPositiveDouble("snr_shift_scale", 3.0),
            RescaleBetasZeroSnr = c.GetBool("rescale_betas_zero_snr", false),
        };
        o.Validate();
        return o;
    }

    /// <summary>Refuses, naming <see cref="Source"/> and the key, a prediction type or spacing the steps do not know.</summary>
    public void Validate()
    {
        if (PredictionType is not ("epsilon" or "v_prediction" or "sample"))
            throw new NotSupportedException($"{Source}: prediction_type \"{PredictionType}\" is not supported (epsilon, v_prediction, sample)");
        if (TimestepSpacing is not ("linspace" or "leading" or "trailing"))
            throw new NotSupportedException($"{Source}: timestep_spacing \"{TimestepSpacing}\" is not supported (linspace, leading or trailing)");
        if (!(SnrShiftScale > 0) || double.IsInfinity(SnrShiftScale))
            throw new FormatException($"{Source}: 'snr_shift_scale' must be a positive number, found {SnrShiftScale}");
    }

    /// <summary>
    /// ᾱ as diffusers builds it for these schedulers, in its precision: scaled_linear β is a float64 linspace of the
    /// square roots, squared, so ᾱ, the SNR shift and the zero-SNR rescale are float64 too; linear, cosine and trained
    /// β are float32 tensors, so there every value is rounded to float32 after each operation. With the zero-SNR
    /// rescale the last entry is exactly 0 (the pure-noise end), which the steps handle (log 0 = −∞ gives 0 weights).
    /// </summary>
    public double[] AlphasCumprod()
    {
        bool f64 = Training.TrainedBetas is null && Training.BetaSchedule == "scaled_linear";
        Func<double, double> r = f64 ? v => v : v => (float)v;
        int n = Training.NumTrainTimesteps;
        double[] ac = new double[n];
        if (f64)
        {
            double[] root = TorchLinspaceF64(Math.Sqrt(Training.BetaStart), Math.Sqrt(Training.BetaEnd), n);
            double acc = 1.0;
            for (int i = 0; i < n; i++) { acc *= 1.0 - root[i] * root[i]; ac[i] = acc; }
        }
        else
        {
            var a32 = Training.AlphasCumprod();
            for (int i = 0; i < n; i++) ac[i] = a32[i];
        }
        double s = SnrShiftScale;
        for (int i = 0; i < n; i++) ac[i] = r(ac[i] / r(s + r((1 - s) * ac[i])));
        if (RescaleBetasZeroSnr)
        {
            var sq = ac.Select(v => r(Math.Sqrt(v))).ToArray();
            double first = sq[0], last = sq[^1];
            double scale = r(first / r(first - last));
            for (int i = 0; i < n; i++)
            {
                double v = r(r(sq[i] - last) * scale);
                ac[i] = r(v * v);
            }
        }
        return ac;
    }

    /// <summary>torch.linspace in float64 on the CPU: counted from the start for the first half, from the end for the
    /// second (see <see cref="NoiseSchedules.TorchLinspaceF32"/>).</summary>
    static double[] TorchLinspaceF64(double start, double end, int steps)
    {
        var v = new double[steps];
        if (steps == 1) { v[0] = start; return v; }
        double step = (end - start) / (steps - 1);
        int half = steps / 2;
        for (int i = 0; i < steps; i++)
            v[i] = i < half ? Math.FusedMultiplyAdd(step, i, start) : Math.FusedMultiplyAdd(-step, steps - i - 1, end);
        return v;
    }
}
