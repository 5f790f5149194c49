namespace XDit.Models.Gemma2;

/// <summary>The additive attention masks of Gemma 2, [B, 1, S, S] row-major: query i sees key j when j ≤ i, the key
/// is a real token, and, on sliding layers, i − j &lt; window (transformers' sliding-window overlay).</summary>
public static class Gemma2Masks
{
    public static float[] Additive(long[]? attentionMask, int batch, int seqLen, int? window, float masked)
    {
        var m = new float[batch * seqLen * seqLen];
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < seqLen; i++)
                for (int j = 0; j < seqLen; j++)
                {
                    bool visible = j <= i && (window is not int w || i - j < w) && (attentionMask is null || attentionMask[b * seqLen + j] != 0);
                    m[(b * seqLen + i) * seqLen + j] = visible ? 0f : masked;
                }
        return m;
    }
}
