namespace XDit.Kernels.Ledger;

/// <summary>The FLOP formulas of the ledger: a multiply-add is two FLOPs.</summary>
public static class LedgerMath
{
    /// <summary>A batch of [m, k]·[k, n] products: 2·batch·m·n·k.</summary>
    public static double Gemm(long m, long n, long k, long batch = 1) => 2.0 * batch * m * n * k;

    /// <summary>softmax(Q·Kᵀ)·V: two products of d per visible (query, key) pair and head, 4·B·H·pairs·d
    /// (4·B·H·Nq·Nk·d when every key is visible).</summary>
    public static double Attention(long batch, long heads, long queries, long keys, long headDim, bool causal = false, int? window = null)
        => 4.0 * batch * heads * VisiblePairs(queries, keys, causal, window) * headDim;

    /// <summary>(query, key) pairs that attention visits: all Nq·Nk, those with j ≤ i (causal), those with
    /// |i − j| ≤ window (band), or both.</summary>
    public static double VisiblePairs(long queries, long keys, bool causal, int? window)
    {
        if (!causal && window is null) return (double)queries * keys;
        double pairs = 0;
        for (long i = 0; i < queries; i++)
        {
            long lo = window is int w ? Math.Max(0, i - w) : 0;
            long hi = Math.Min(keys - 1, causal ? i : window is int w2 ? i + w2 : keys - 1);
            if (hi >= lo) pairs += hi - lo + 1;
        }
        return pairs;
    }

    /// <summary>A 2-D convolution: 2·B·O·outH·outW·C·kh·kw.</summary>
    public static double Conv2d(long batch, long outChannels, long outH, long outW, long inChannels, long kh, long kw)
        => 2.0 * batch * outChannels * outH * outW * inChannels * kh * kw;

    /// <summary>One half of ReLU linear attention, the key/value sums or the query apply: each is a
    /// [D + 1, D] by D product per token and head, 2·B·H·N·(D + 1)·D.</summary>
    public static double LinearAttention(long batch, long heads, long tokens, long headDim)
        => 2.0 * batch * heads * tokens * (headDim + 1) * headDim;
}
