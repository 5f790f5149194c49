namespace XDit.Models.Qwen25VL;

/// <summary>
/// Qwen2.5-VL's multimodal rotary tables (rotate-half layout). Each token has three positions (temporal, height,
/// width); frequency i = 0 … head_dim/2 − 1 (inv_freq_i = 1/θ^(2i/d), float32 as transformers computes it) turns with
/// the position of one axis: the first mrope_section[0] frequencies with the temporal one, the next mrope_section[1]
/// with the height, the rest with the width, the same split in both halves of the head. Text tokens carry the same
/// position on all three axes, so for text the tables are ordinary RoPE whatever the sections.
/// </summary>
public static class Qwen25VLRotary
{
    /// <summary>cos and sin [N, headDim] (row-major) for N tokens whose positions per axis are
    /// <paramref name="positions"/>[axis][token] (three arrays of N).</summary>
    public static (float[] Cos, float[] Sin) Tables(int headDim, double theta, int[] mropeSection, long[][] positions)
    {
        int half = headDim / 2;
        if (mropeSection.Length != 3 || mropeSection.Sum() != half)
            throw new ArgumentException($"mrope_section [{string.Join(", ", mropeSection)}] must be 3 entries summing to head_dim/2 = {half}", nameof(mropeSection));
        if (positions.Length != 3 || positions[1].Length != positions[0].Length || positions[2].Length != positions[0].Length)
            throw new ArgumentException("positions must be three arrays (temporal, height, width) of one length", nameof(positions));
        int n = positions[0].Length;
        var invFreq = new float[half];
        var axis = new int[half];
        for (int i = 0; i < half; i++)
        {
            invFreq[i] = 1f / MathF.Pow((float)theta, (float)(2 * i) / headDim);
            axis[i] = i < mropeSection[0] ? 0 : i < mropeSection[0] + mropeSection[1] ? 1 : 2;
        }
        var cos = new float[n * headDim];
        var sin = new float[n * headDim];
        for (int p = 0; p < n; p++)
            for (int i = 0; i < half; i++)
            {
                float angle = positions[axis[i]][p] * invFreq[i];   // a float32 product, as the reference's matmul
                float c = MathF.Cos(angle), s = MathF.Sin(angle);
                cos[p * headDim + i] = cos[p * headDim + half + i] = c;
                sin[p * headDim + i] = sin[p * headDim + half + i] = s;
            }
        return (cos, sin);
    }

    /// <summary>The position of each text token of a batch [B·S] as transformers' get_rope_index gives it without
    /// images: the count of real tokens before it (attention mask cumsum − 1), and 1 on padding; 0 … S − 1 without
    /// a mask.</summary>
    public static long[] TextPositions(long[]? attentionMask, int batch, int seqLen)
    {
        var pos = new long[batch * seqLen];
        for (int b = 0; b < batch; b++)
        {
            long seen = 0;
            for (int j = 0; j < seqLen; j++)
            {
                int k = b * seqLen + j;
                if (attentionMask is null) pos[k] = j;
                else if (attentionMask[k] != 0) pos[k] = seen++;
                else pos[k] = 1;
            }
        }
        return pos;
    }
}
