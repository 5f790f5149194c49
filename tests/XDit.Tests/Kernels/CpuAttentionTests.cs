using XDit.Kernels;
using XDit.Kernels.Cpu;
using XDit.Runtime;
using static XDit.Tests.Kernels.OpsTestKit;

namespace XDit.Tests.Kernels;

public class CpuAttentionTests
{
    /// <summary>softmax(q·kᵀ·scale + biases)·v per (b, h, i) in double; returns (out [B,Nq,H,dv], lse [B,H,Nq]).</summary>
    static (double[] o, double[] lse) Naive(float[] q, float[] k, float[] v, int B, int Nq, int Nk, int H, int d, int dv,
        double scale, float[]? keyBias, int kbBatches, float[]? bias, int biasBatches, bool causal, int window = -1)
    {
        var o = new double[B * Nq * H * dv];
        var lse = new double[B * H * Nq];
        var s = new double[Nk];
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++)
                for (int i = 0; i < Nq; i++)
                {
                    double max = double.NegativeInfinity;
                    for (int j = 0; j < Nk; j++)
                    {
                        double dot = 0;
                        for (int c = 0; c < d; c++) dot += (double)q[((b * Nq + i) * H + h) * d + c] * k[((b * Nk + j) * H + h) * d + c];
                        double x = dot * scale;
                        if (keyBias is not null) x += keyBias[(kbBatches == 1 ? 0 : b) * Nk + j];
                        if (bias is not null) x += bias[(((biasBatches == 1 ? 0 : b) * H + h) * Nq + i) * Nk + j];
                        if (causal && j > i) x = double.NegativeInfinity;
                        if (window >= 0 && Math.Abs(i - j) > window) x = double.NegativeInfinity;
                        s[j] = x;
                        max = Math.Max(max, x);
                    }
                    if (double.IsNegativeInfinity(max)) { lse[(b * H + h) * Nq + i] = double.NegativeInfinity; continue; }
                    double sum = 0;
                    for (int j = 0; j < Nk; j++) sum += Math.Exp(s[j] - max);
                    lse[(b * H + h) * Nq + i] = max + Math.Log(sum);
                    for (int j = 0; j < Nk; j++)
                    {
                        double p = Math.Exp(s[j] - max) / sum;
                        for (int c = 0; c < dv; c++) o[((b * Nq + i) * H + h) * dv + c] += p * v[((b * Nk + j) * H + h) * dv + c];
                    }
                }
        return (o, lse);
    }

    [Theory]
    [InlineData(1, 1, 1, 1, 8, false, false, false, false)]
    [InlineData(2, 37, 53, 3, 72, false, false, false, false)]
    [InlineData(2, 37, 53, 3, 72, true, false, false, true)]
    [InlineData(2, 29, 19, 2, 40, false, true, false, false)]
    [InlineData(1, 45, 45, 4, 64, false, false, true, true)]
    [InlineData(2, 33, 70, 2, 72, true, true, false, false)]
    [InlineData(1, 150, 131, 2, 72, true, true, true, true)]
    [InlineData(2, 130, 200, 3, 40, false, false, false, false)]
    public void AttentionMatchesNaiveSoftmax(int B, int Nq, int Nk, int H, int d, bool keyBias, bool bias, bool causal, bool strided)
    {
        using var ops = new CpuOps();
        // Strided q/k: views of a fused [B, N, 3, H, d] buffer, as a fused QKV projection yields;
        // strided v: a [B, H, N, d] buffer permuted to [B, N, H, d].
        var q = strided ? FusedView(20, B, Nq, H, d, 0) : Rand(20, 2f, B, Nq, H, d);
        var k = strided ? FusedView(21, B, Nk, H, d, 1) : Rand(21, 2f, B, Nk, H, d);
        var v = strided ? Rand(22, B, H, Nk, d).Permute(0, 2, 1, 3) : Rand(22, B, Nk, H, d);
        var kb = keyBias ? Rand(23, 3f, B, Nk) : null;
        var bi = bias ? Rand(24, 2f, 1, H, Nq, Nk) : null;
        float scale = keyBias ? 0.3f : 1f / MathF.Sqrt(d);
        var opts = new AttentionOptions { Scale = keyBias ? scale : null, KeyBias = kb, Bias = bi, Causal = causal };
        using var lse = ops.Empty(DType.F32, B, H, Nq);
        using var o = ops.Attention(q, k, v, opts, lse);
        Assert.Equal(new[] { B, Nq, H, d }, o.Dims);
        var (eo, el) = Naive(q.ToFloatArray(), k.ToFloatArray(), v.ToFloatArray(), B, Nq, Nk, H, d, d, scale,
            kb?.ToFloatArray(), B, bi?.ToFloatArray(), 1, causal);
        Close(eo, ops.ToHost(o));
        Close(el, ops.ToHost(lse));
    }

    // Windows narrower than a query block (96 rows) and a packed panel (16 keys), wider than both, 0 (the diagonal
    // alone), past every index, and with Nq != Nk, key bias, causal mask and strided views.
    [Theory]
    [InlineData(1, 300, 300, 2, 72, 0, false, false, false)]
    [InlineData(1, 300, 300, 2, 72, 7, false, false, true)]
    [InlineData(2, 257, 257, 3, 40, 64, true, false, false)]
    [InlineData(1, 200, 200, 2, 64, 130, false, true, false)]
    [InlineData(2, 150, 181, 2, 72, 33, true, true, true)]
    [InlineData(1, 40, 40, 1, 16, 1000, false, false, false)]
    [InlineData(1, 5, 9, 1, 8, 2, false, false, false)]
    public void WindowedAttentionMatchesNaiveSoftmax(int B, int Nq, int Nk, int H, int d, int window, bool keyBias, bool causal, bool strided)
    {
        using var ops = new CpuOps();
        var q = strided ? FusedView(40, B, Nq, H, d, 0) : Rand(40, 2f, B, Nq, H, d);
        var k = strided ? FusedView(41, B, Nk, H, d, 1) : Rand(41, 2f, B, Nk, H, d);
        var v = Rand(42, B, Nk, H, d);
        var kb = keyBias ? Rand(43, 3f, B, Nk) : null;
        float scale = 1f / MathF.Sqrt(d);
        using var lse = ops.Empty(DType.F32, B, H, Nq);
        using var o = ops.Attention(q, k, v, new AttentionOptions { KeyBias = kb, Causal = causal, Window = window }, lse);
        var (eo, el) = Naive(q.ToFloatArray(), k.ToFloatArray(), v.ToFloatArray(), B, Nq, Nk, H, d, d, scale,
            kb?.ToFloatArray(), B, null, 1, causal, window);
        Close(eo, ops.ToHost(o));
        Close(el, ops.ToHost(lse));
    }

    [Fact]
    public void AWindowPastEveryIndexIsPlainAttentionAndANegativeOneIsRefused()
    {
        using var ops = new CpuOps();
        var q = Rand(50, 1, 120, 2, 32);
        var k = Rand(51, 1, 120, 2, 32);
        var v = Rand(52, 1, 120, 2, 32);
        using var plain = ops.Attention(q, k, v);
        using var wide = ops.Attention(q, k, v, new AttentionOptions { Window = 119 });
        using var narrow = ops.Attention(q, k, v, new AttentionOptions { Window = 118 });
        Assert.Equal(ops.ToHost(plain), ops.ToHost(wide));
        Assert.NotEqual(ops.ToHost(plain), ops.ToHost(narrow));
        var e = Assert.Throws<ArgumentException>(() => ops.Attention(q, k, v, new AttentionOptions { Window = -1 }));
        Assert.Contains("window -1", e.Message);
    }

    /// <summary>A [B, N, H, d] view into a [B, N, 3, H, d] buffer (inner rows dense, outer strides wide).</summary>
    static Tensor FusedView(int seed, int B, int N, int H, int d, int which)
    {
        var full = Rand(seed, 2f, B, N, 3, H, d);
        return new Tensor(full.Storage, DType.F32, [B, N, H, d], [(long)N * 3 * H * d, 3L * H * d, d, 1], which * H * d);
    }

    [Fact]
    public void FullyMaskedRowsGiveZerosAndMinusInfinityLse()
    {
        using var ops = new CpuOps();
        int B = 2, N = 5, H = 2, d = 6;
        var kb = new float[B * N];
        for (int j = 0; j < N; j++) kb[N + j] = float.NegativeInfinity; // batch 1: every key masked
        kb[2] = float.NegativeInfinity;                                    // batch 0: one key masked
        var q = Rand(30, B, N, H, d);
        var k = Rand(31, B, N, H, d);
        var v = Rand(32, B, N, H, d);
        using var lse = ops.Empty(DType.F32, B, H, N);
        using var o = ops.Attention(q, k, v, new AttentionOptions { KeyBias = Tensor.FromArray(kb, B, N) }, lse);
        var oh = ops.ToHost(o);
        var lh = ops.ToHost(lse);
        for (int i = N * H * d; i < oh.Length; i++) Assert.Equal(0f, oh[i]);
        for (int i = H * N; i < lh.Length; i++) Assert.Equal(float.NegativeInfinity, lh[i]);
        var (eo, el) = Naive(q.ToFloatArray(), k.ToFloatArray(), v.ToFloatArray(), B, N, N, H, d, d, 1 / Math.Sqrt(d), kb, B, null, 1, false);
        Close(eo, oh);
        Close(el.Take(H * N).ToArray(), lh.Take(H * N).ToArray());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void MergingTwoKeySplitsEqualsAttentionOverAllKeys(bool maskSecondHalfOfBatch1)
    {
        using var ops = new CpuOps();
        int B = 2, Nq = 13, Nk = 21, split = 8, H = 3, d = 72;
        var q = Rand(40, B, Nq, H, d);
        var k = Rand(41, B, Nk, H, d);
        var v = Rand(42, B, Nk, H, d);
        var kbData = Numerics.Random(B * Nk, 43);
        if (maskSecondHalfOfBatch1) for (int j = split; j < Nk; j++) kbData[Nk + j] = float.NegativeInfinity;
        var kb = Tensor.FromArray(kbData, B, Nk);
        using var lseAll = ops.Empty(DType.F32, B, H, Nq);
        using var all = ops.Attention(q, k, v, new AttentionOptions { KeyBias = kb }, lseAll);

        using var kb1 = ops.Contiguous(kb.Slice(1, 0, split));
        using var kb2 = ops.Contiguous(kb.Slice(1, split, Nk - split));
        using var lse1 = ops.Empty(DType.F32, B, H, Nq);
        using var lse2 = ops.Empty(DType.F32, B, H, Nq);
        using var o1 = ops.Attention(q, k.Slice(1, 0, split), v.Slice(1, 0, split), new AttentionOptions { KeyBias = kb1 }, lse1);
        using var o2 = ops.Attention(q, k.Slice(1, split, Nk - split), v.Slice(1, split, Nk - split), new AttentionOptions { KeyBias = kb2 }, lse2);
        ops.MergeAttention(o1, lse1, o2, lse2);
        Close(ops.ToHost(all), ops.ToHost(o1));
        Close(ops.ToHost(lseAll), ops.ToHost(lse1));
    }

    [Fact]
    public void MergeWithAnEmptySideKeepsTheOther()
    {
        using var ops = new CpuOps();
        int B = 1, N = 4, H = 2, d = 3;
        var o1 = ops.FromHost(Numerics.Random(B * N * H * d, 50), B, N, H, d);
        var l1 = ops.FromHost(Numerics.Random(B * H * N, 51), B, H, N);
        var o2 = ops.FromHost(Numerics.Random(B * N * H * d, 52), B, N, H, d);
        var l2 = ops.FromHost(Enumerable.Repeat(float.NegativeInfinity, B * H * N).ToArray(), B, H, N);
        var before = ops.ToHost(o1);
        var lBefore = ops.ToHost(l1);
        ops.MergeAttention(o1, l1, o2, l2);
        Close(before, ops.ToHost(o1), 1e-6);
        Close(lBefore, ops.ToHost(l1), 1e-6);
    }
}
