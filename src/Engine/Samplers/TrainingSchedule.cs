using XDit.Runtime;

namespace XDit.Engine.Samplers;

/// <summary>
/// The training noise table of the DDPM-family schedulers (DDPM, DDIM, DPM-Solver++, Euler discrete): the keys of
/// scheduler_config.json they share, named and defaulted as diffusers', and the β and ᾱ tables built from them,
/// rounded where torch rounds them (β in float32 with torch's two-sided linspace; ᾱ = cumprod(1 − β), the running
/// product in double and each entry stored as float32, as torch's CPU cumprod).
/// </summary>
public sealed record TrainingSchedule
{
    public int NumTrainTimesteps { get; init; } = 1000;
    public double BetaStart { get; init; } = 0.0001;
    public double BetaEnd { get; init; } = 0.02;
    /// <summary>linear, scaled_linear or squaredcos_cap_v2; unused when <see cref="TrainedBetas"/> is given.</summary>
    public string BetaSchedule { get; init; } = "linear";
    public double[]? TrainedBetas { get; init; }
    /// <summary>Where the settings came from (named in errors).</summary>
    public string Source { get; init; } = "<TrainingSchedule>";

    /// <summary>num_train_timesteps, beta_start, beta_end, beta_schedule and trained_betas of a scheduler config; a bad
    /// value is refused naming the file and the key.</summary>
    public static TrainingSchedule From(JsonConfig c)
    {
        var s = new TrainingSchedule
        {
            Source = c.Path,
            NumTrainTimesteps = c.GetInt("num_train_timesteps", 1000, 1, ConfigBounds.TrainTimesteps),
            BetaStart = c.GetPositiveDouble("beta_start", 0.0001),
            BetaEnd = c.GetPositiveDouble("beta_end", 0.02),
            BetaSchedule = c.GetString("beta_schedule", "linear")!,
            TrainedBetas = c.Has("trained_betas") ? c.GetDoubleArray("trained_betas") : null,
        };
        s.Validate();
        return s;
    }

    /// <summary>Refuses, naming <see cref="Source"/> and the key, trained_betas of another length than
    /// num_train_timesteps, or (without them) a β schedule this engine does not build.</summary>
    public void Validate()
    {
        if (TrainedBetas is { } trained)
        {
            if (trained.Length != NumTrainTimesteps)
                throw new FormatException($"{Source}: 'trained_betas' has {trained.Length} values, expected num_train_timesteps = {NumTrainTimesteps}");
        }
        else if (BetaSchedule is not ("linear" or "scaled_linear" or "squaredcos_cap_v2"))
            throw new NotSupportedException($"{Source}: beta_schedule \"{BetaSchedule}\" is not supported (expected linear, scaled_linear or squaredcos_cap_v2)");
    }

    /// <summary>The β table as diffusers builds it (float32).</summary>
    public float[] Betas()
    {
        Validate();
        if (TrainedBetas is { } trained) return trained.Select(b => (float)b).ToArray();
        int n = NumTrainTimesteps;
        switch (BetaSchedule)
        {
            case "linear":
                return NoiseSchedules.TorchLinspaceF32((float)BetaStart, (float)BetaEnd, n);
            case "scaled_linear":
            {
                // linspace of the square roots (Python doubles rounded to float32), squared in float32.
                var r = NoiseSchedules.TorchLinspaceF32((float)Math.Sqrt(BetaStart), (float)Math.Sqrt(BetaEnd), n);
                for (int i = 0; i < r.Length; i++) r[i] *= r[i];
                return r;
            }
            default: // squaredcos_cap_v2
            {
                // Glide's cosine schedule: β_i = min(1 − ᾱ(t_{i+1})/ᾱ(t_i), 0.999) in double, then float32.
                static double AlphaBar(double t) { double c = Math.Cos((t + 0.008) / 1.008 * Math.PI / 2); return c * c; }
                var r = new float[n];
                for (int i = 0; i < n; i++)
                {
                    double t1 = (double)i / n, t2 = (double)(i + 1) / n;
                    r[i] = (float)Math.Min(1 - AlphaBar(t2) / AlphaBar(t1), 0.999);
                }
                return r;
            }
        }
    }

    /// <summary>ᾱ = cumprod(1 − β): α in float32, the running product in double, each entry stored as float32.</summary>
    public float[] AlphasCumprod()
    {
        var betas = Betas();
        var r = new float[betas.Length];
        double acc = 1.0;
        for (int i = 0; i < betas.Length; i++)
        {
            float alpha = 1f - betas[i];
            acc *= alpha;
            r[i] = (float)acc;
        }
        return r;
    }
}
