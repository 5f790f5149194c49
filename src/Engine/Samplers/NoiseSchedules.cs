using XDit.Runtime;

namespace XDit.Engine.Samplers;

/// <summary>
/// What the DDPM-style schedulers compute from the training table (<see cref="TrainingSchedule"/>: β, ᾱ): σ, their
/// discrete timesteps, and the linspace/arange flavours of torch and numpy, rounded where they round them (torch's
/// linspace in float32 with two sides, numpy's in float64).
/// </summary>
public static class NoiseSchedules
{
    /// <summary>torch.linspace(start, end, steps, dtype=float32) on the CPU: float32 step, first half counted from
    /// the start (start + step·i), second half from the end (end − step·(steps − 1 − i)). torch's x86 kernel is built
    /// with FMA contraction, so each value is one fused multiply-add (this made the β table, hence ᾱ and σ, match
    /// the fixtures bit for bit; separate multiply and add left one-ulp differences).</summary>
    public static float[] TorchLinspaceF32(float start, float end, int steps)
    {
        var r = new float[steps];
        if (steps == 1) { r[0] = start; return r; }
        float step = (end - start) / (steps - 1);
        int half = steps / 2;
        for (int i = 0; i < steps; i++)
            r[i] = i < half ? MathF.FusedMultiplyAdd(step, i, start) : MathF.FusedMultiplyAdd(-step, steps - i - 1, end);
        return r;
    }

    /// <summary>numpy.linspace(start, stop, num) in float64: start + i·step, the last value exactly stop.</summary>
    public static double[] NumpyLinspace(double start, double stop, int num)
    {
        var r = new double[num];
        if (num == 0) return r;
        if (num == 1) { r[0] = start; return r; }
        double step = (stop - start) / (num - 1);
        for (int i = 0; i < num; i++) r[i] = i * step + start;
        r[num - 1] = stop;
        return r;
    }

    /// <summary>numpy.arange(start, stop, step) in float64 (length ceil((stop − start)/step), values start + i·step).</summary>
    public static double[] NumpyArange(double start, double stop, double step)
    {
        int n = Math.Max(0, (int)Math.Ceiling((stop - start) / step));
        var r = new double[n];
        for (int i = 0; i < n; i++) r[i] = start + i * step;
        return r;
    }

    /// <summary>The DDPM noise-to-signal table σ_i = sqrt((1 − ᾱ_i)/ᾱ_i) in float32.</summary>
    public static float[] TrainSigmas(float[] alphasCumprod)
    {
        var r = new float[alphasCumprod.Length];
        for (int i = 0; i < r.Length; i++) r[i] = MathF.Sqrt((1f - alphasCumprod[i]) / alphasCumprod[i]);
        return r;
    }

    /// <summary>The discrete timesteps of DDPM and DDIM for <paramref name="n"/> steps out of
    /// <paramref name="T"/>, descending, as diffusers spaces them: "linspace" (rounded half to even, no steps_offset),
    /// "leading" (multiples of T / n plus steps_offset) or "trailing" (from T down, minus one). Every timestep must fall
    /// in [0, T): a steps_offset that pushes one out is refused naming <paramref name="source"/>.</summary>
    public static long[] DiscreteTimesteps(string spacing, int T, int n, int stepsOffset, string source)
    {
        if (n < 1 || n > T) throw new ArgumentOutOfRangeException("numInferenceSteps", n, $"must be between 1 and num_train_timesteps = {T}");
        long[] ts = new long[n];
        switch (spacing)
        {
            case "linspace":
            {
                var l = NumpyLinspace(0, T - 1, n);
                for (int k = 0; k < n; k++) ts[k] = (long)Math.Round(l[n - 1 - k], MidpointRounding.ToEven); // no steps_offset, as diffusers
                break;
            }
            case "leading":
            {
                int ratio = T / n;
                for (int k = 0; k < n; k++) ts[k] = (long)(n - 1 - k) * ratio + stepsOffset;
                break;
            }
            default: // trailing
            {
                var a = NumpyArange(T, 0, -(double)T / n);
                ts = a.Select(v => (long)Math.Round(v, MidpointRounding.ToEven) - 1).ToArray();
                break;
            }
        }
        foreach (var t in ts)
            if (t < 0 || t >= T) throw new ArgumentOutOfRangeException("numInferenceSteps", $"{source}: timestep {t} outside [0, {T}) (steps_offset {stepsOffset}, spacing {spacing})");
        return ts;
    }

    /// <summary>The integer timesteps of the multistep solvers (DPM-Solver++, UniPC) for <paramref name="n"/> steps,
    /// descending, as diffusers spaces them up to <paramref name="lastTimestep"/> (num_train_timesteps <paramref name="T"/>,
    /// or fewer where DPM-Solver++ clips λ): "linspace" (n + 1 points from 0 to last − 1, rounded half to even, the
    /// first dropped), "leading" (multiples of last // (n + 1) plus steps_offset) or "trailing" (from last down by
    /// T / n, rounded, minus one).</summary>
    public static long[] MultistepTimesteps(string spacing, int lastTimestep, int T, int n, int stepsOffset)
    {
        var ts = new long[n];
        switch (spacing)
        {
            case "linspace":
            {
                var l = NumpyLinspace(0, lastTimestep - 1, n + 1);
                for (int k = 0; k < n; k++) ts[k] = (long)Math.Round(l[n - k], MidpointRounding.ToEven);
                return ts;
            }
            case "leading":
            {
                int ratio = lastTimestep / (n + 1);
                for (int k = 0; k < n; k++) ts[k] = (long)(n - k) * ratio + stepsOffset;
                return ts;
            }
            default: // trailing
                return NumpyArange(lastTimestep, 0, -(double)T / n).Select(v => (long)Math.Round(v, MidpointRounding.ToEven) - 1).ToArray();
        }
    }

    /// <summary>√((1 − ᾱ)/ᾱ) at each timestep, then 0: the σ list DDPM and DDIM give for inspection (they have none of
    /// their own).</summary>
    public static float[] SigmasAt(long[] timesteps, float[] alphasCumprod)
    {
        var sigmas = new float[timesteps.Length + 1];
        for (int k = 0; k < timesteps.Length; k++) sigmas[k] = MathF.Sqrt((1f - alphasCumprod[timesteps[k]]) / alphasCumprod[timesteps[k]]);
        return sigmas;
    }
}
