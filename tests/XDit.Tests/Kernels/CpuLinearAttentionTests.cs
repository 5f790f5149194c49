using XDit.Kernels.Cpu;
using XDit.Runtime;
using static XDit.Tests.Kernels.OpsTestKit;

namespace XDit.Tests.Kernels;

/// <summary>ReLU linear attention as diffusers' SanaLinearAttnProcessor2_0 computes it, in double, from the
/// formula: out_i = Σ_j v_j·(relu(k_j)·relu(q_i)) / (Σ_j relu(k_j)·relu(q_i) + eps).</summary>
public class CpuLinearAttentionTests
{
    static double[] Reference(float[] q, float[] k, float[] v, int B, int N, int H, int D, double eps)
    {
        var o = new double[B * N * H * D];
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++)
                for (int i = 0; i < N; i++)
                {
                    var num = new double[D];
                    double den = 0;
                    for (int j = 0; j < N; j++)
                    {
                        double dot = 0;
                        for (int d = 0; d < D; d++)
                            dot += Math.Max(0, q[((b * N + i) * H + h) * D + d]) * (double)Math.Max(0, k[((b * N + j) * H + h) * D + d]);
                        den += dot;
                        for (int e = 0; e < D; e++) num[e] += dot * v[((b * N + j) * H + h) * D + e];
                    }
                    for (int e = 0; e < D; e++) o[((b * N + i) * H + h) * D + e] = num[e] / (den + eps);
                }
        return o;
    }

    [Theory]
    [InlineData(2, 13, 3, 8, false)]
    [InlineData(1, 40, 2, 32, true)]
    public void SumsThenApplyMatchFormula(int B, int N, int H, int D, bool strided)
    {
        using var ops = new CpuOps();
        var q = Input(strided, 1, B, N, H, D);
        var k = Input(strided, 2, B, N, H, D);
        var v = Input(strided, 3, B, N, H, D);
        using var s = ops.LinearAttentionSums(k, v);
        Assert.Equal(new[] { B, H, D + 1, D }, s.Dims);
        Assert.Equal(DType.F32, s.DType);
        using var o = ops.LinearAttentionApply(q, s, 1e-15f);
        Assert.Equal(new[] { B, N, H, D }, o.Dims);
        Close(Reference(q.ToFloatArray(), k.ToFloatArray(), v.ToFloatArray(), B, N, H, D, 1e-15), ops.ToHost(o), 1e-4);
    }

    [Fact]
    public void SumsOfTokenSlicesAddUpToTheWhole()
    {
        // what sequence parallelism relies on: each rank's sums over its tokens, summed, are the sums over all
        using var ops = new CpuOps();
        var k = Rand(4, 2, 10, 2, 8);
        var v = Rand(5, 2, 10, 2, 8);
        using var whole = ops.LinearAttentionSums(k, v);
        using var a = ops.LinearAttentionSums(k.Slice(1, 0, 4), v.Slice(1, 0, 4));
        using var b = ops.LinearAttentionSums(k.Slice(1, 4, 6), v.Slice(1, 4, 6));
        using var sum = ops.Add(a, b);
        Close(ops.ToHost(whole), ops.ToHost(sum));
    }

    [Fact]
    public void NormaliserRowIsTheSumOfReluKeys()
    {
        using var ops = new CpuOps();
        var k = Rand(6, 1, 5, 1, 4);
        var v = Rand(7, 1, 5, 1, 4);
        using var s = ops.LinearAttentionSums(k, v);
        var ks = k.ToFloatArray();
        var want = new double[4];
        for (int j = 0; j < 5; j++)
            for (int d = 0; d < 4; d++) want[d] += Math.Max(0, ks[j * 4 + d]);
        Close(want, ops.ToHost(s)[16..20]);
    }
}
