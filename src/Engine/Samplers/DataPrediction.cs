namespace XDit.Engine.Samplers;

/// <summary>
/// What the multistep solvers that work on the data prediction share (DPM-Solver++ and UniPC with predict_x0, as
/// diffusers' convert_model_output): the (α, σ) of a noise level and the x0 a model output gives at it.
/// </summary>
static class DataPrediction
{
    /// <summary>(α_t, σ_t) of noise level σ: flow sigmas (1 − σ, σ), else the VP pair (1/√(σ² + 1), σ/√(σ² + 1)).</summary>
    public static (float Alpha, float Sigma) AlphaSigma(float sigma, bool flowSigmas)
    {
        if (flowSigmas) return (1f - sigma, sigma);
        float alpha = 1f / MathF.Sqrt(sigma * sigma + 1f);
        return (alpha, sigma * alpha);
    }

    /// <summary>x0 from model output <paramref name="m"/> at sample <paramref name="x"/> with (α, σ): epsilon
    /// (x − σm)/α, v_prediction αx − σm, sample m itself, flow_prediction x − σm (flow sigmas: σ is the level).</summary>
    public static void Into(Span<float> x0, ReadOnlySpan<float> m, ReadOnlySpan<float> x, string predictionType, float alpha, float sigma)
    {
        switch (predictionType)
        {
            case "epsilon":
                for (int i = 0; i < x0.Length; i++) x0[i] = (x[i] - sigma * m[i]) / alpha;
                break;
            case "v_prediction":
                for (int i = 0; i < x0.Length; i++) x0[i] = alpha * x[i] - sigma * m[i];
                break;
            case "sample":
                m.CopyTo(x0);
                break;
            default: // flow_prediction
                for (int i = 0; i < x0.Length; i++) x0[i] = x[i] - sigma * m[i];
                break;
        }
    }
}
