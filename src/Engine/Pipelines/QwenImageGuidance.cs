namespace XDit.Engine.Pipelines;

/// <summary>QwenImagePipeline's true CFG on packed model output rows laid out [negative rows; positive rows]:
/// comb = neg + s·(pos − neg), then each token's comb scaled to the positive prediction's norm over the features,
/// comb · ‖pos‖ / ‖comb‖ (diffusers' torch.norm over the last axis), so guidance steers the direction but keeps the
/// conditional prediction's per-token magnitude.</summary>
public static class QwenImageGuidance
{
    /// <summary>output [2·batch, tokens, features] → noise [batch, tokens, features]. The sums of squares run in
    /// float64 (the norms agree with float32's to rounding); a token whose combined prediction is all zeros gives
    /// NaN as in diffusers, for the pipeline's finite check to report.</summary>
    public static void Combine(float[] output, float[] noise, int batch, int tokens, int features, float scale)
    {
        long row = (long)tokens * features;
        if (output.Length != 2 * batch * row)
            throw new ArgumentException($"true CFG needs [negative; positive] rows of {tokens}x{features}: {2 * batch * row} values, got {output.Length}");
        if (noise.Length != batch * row)
            throw new ArgumentException($"the noise prediction holds {noise.Length} values, expected {batch * row}");
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < tokens; t++)
            {
                long n = b * row + (long)t * features, p = (batch + b) * row + (long)t * features;
                double condSq = 0, combSq = 0;
                for (int j = 0; j < features; j++)
                {
                    float neg = output[n + j], pos = output[p + j];
                    float comb = neg + scale * (pos - neg);
                    noise[n + j] = comb;
                    condSq += (double)pos * pos;
                    combSq += (double)comb * comb;
                }
                float ratio = (float)Math.Sqrt(condSq) / (float)Math.Sqrt(combSq);
                for (int j = 0; j < features; j++) noise[n + j] *= ratio;
            }
    }
}
