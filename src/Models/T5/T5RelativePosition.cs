namespace XDit.Models.T5;

/// <summary>
/// T5's bidirectional relative position buckets (transformers T5Attention._relative_position_bucket with
/// bidirectional = true): half the buckets for keys after the query, half for keys at or before it; within each
/// half, exact buckets for small distances and logarithmic ones up to max_distance. The logarithm runs in float32
/// as in torch, so boundary distances land in the same bucket.
/// </summary>
public static class T5RelativePosition
{
    /// <summary>Bucket of relative position <paramref name="relative"/> = key − query.</summary>
    public static int Bucket(int relative, int numBuckets, int maxDistance)
    {
        int half = numBuckets / 2;
        int bucket = relative > 0 ? half : 0;
        int n = Math.Abs(relative);
        int maxExact = half / 2;
        if (n < maxExact) return bucket + n;
        float scaled = MathF.Log((float)n / maxExact) / (float)Math.Log((double)maxDistance / maxExact) * (half - maxExact);
        int large = maxExact + (int)scaled;     // truncation toward zero, as .to(torch.long)
        return bucket + Math.Min(large, half - 1);
    }

    /// <summary>The bucket of every (query i, key j) pair, row-major [T, T]: the rows of relative_attention_bias that
    /// make the bias.</summary>
    public static long[] Buckets(int numBuckets, int maxDistance, int length)
    {
        var b = new long[(long)length * length];
        for (int i = 0; i < length; i++)
            for (int j = 0; j < length; j++) b[(long)i * length + j] = Bucket(j - i, numBuckets, maxDistance);
        return b;
    }
}
