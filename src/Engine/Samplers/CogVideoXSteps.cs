namespace XDit.Engine.Samplers;

/// <summary>What the two CogVideoX samplers share: the discrete schedule and the x0 prediction.</summary>
internal static class CogVideoXSteps
{
    /// <summary>The discrete timesteps for <paramref name="numInferenceSteps"/> steps (as DDIM spaces them), the
    /// same as floats, and √((1 − ᾱ)/ᾱ) at each of them then 0.</summary>
    public static (long[] Ts, float[] Timesteps, float[] Sigmas) Schedule(CogVideoXScheduleOptions o, double[] alphasCumprod, int numInferenceSteps)
    {
        long[] ts = NoiseSchedules.DiscreteTimesteps(o.TimestepSpacing, o.Training.NumTrainTimesteps, numInferenceSteps, o.StepsOffset, o.Source);
        var sigmas = new float[ts.Length + 1];
        for (int k = 0; k < ts.Length; k++)
        {
            double a = alphasCumprod[ts[k]];
            sigmas[k] = (float)Math.Sqrt((1 - a) / a);
        }
        return (ts, ts.Select(t => (float)t).ToArray(), sigmas);
    }

    /// <summary>The predicted clean sample from the model output at ᾱ_t, in float32 with the coefficients √ᾱ_t and
    /// √(1 − ᾱ_t) rounded once, in diffusers' order of operations.</summary>
    public readonly struct X0
    {
        readonly int _kind;
        readonly float _sqA, _sqB;

        public X0(string predictionType, double alphaProd)
        {
            _kind = predictionType switch { "epsilon" => 0, "sample" => 1, _ => 2 };
            _sqA = (float)Math.Sqrt(alphaProd);
            _sqB = (float)Math.Sqrt(1 - alphaProd);
        }

        public float From(float sample, float modelOutput) => _kind switch
        {
            0 => (sample - _sqB * modelOutput) / _sqA,
            1 => modelOutput,
            _ => _sqA * sample - _sqB * modelOutput, // v_prediction
        };
    }
}
