using XDit.Kernels;
using XDit.Kernels.Cpu;
using static XDit.Tests.Kernels.OpsTestKit;

namespace XDit.Tests.Kernels;

public class CpuGemmTests
{
    static double[] NaiveLinear(float[] x, float[] w, float[]? b, int M, int N, int K, Activation act)
    {
        var y = new double[M * N];
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++)
            {
                double acc = b?[n] ?? 0;
                for (int k = 0; k < K; k++) acc += (double)x[m * K + k] * w[n * K + k];
                y[m * N + n] = Act(acc, act);
            }
        return y;
    }

    [Theory]
    [InlineData(1, 1, 1, false, Activation.None)]
    [InlineData(7, 13, 5, false, Activation.None)]
    [InlineData(37, 72, 29, true, Activation.Gelu)]
    [InlineData(130, 67, 300, false, Activation.GeluTanh)]
    [InlineData(65, 129, 72, true, Activation.Silu)]
    [InlineData(33, 17, 257, true, Activation.QuickGelu)]
    [InlineData(9, 31, 64, false, Activation.Relu)]
    [InlineData(5, 300, 40, true, Activation.None)]
    [InlineData(200, 520, 70, true, Activation.GeluTanh)]
    [InlineData(101, 263, 513, false, Activation.None)]
    public void LinearMatchesNaiveLoop(int M, int N, int K, bool strided, Activation act)
    {
        using var ops = new CpuOps();
        var x = Input(strided, 1, M, K);
        var w = Input(strided, 2, N, K);
        var b = Rand(3, N);
        using var y = ops.Linear(x, w, b, act);
        Assert.Equal(new[] { M, N }, y.Dims);
        Close(NaiveLinear(x.ToFloatArray(), w.ToFloatArray(), b.ToFloatArray(), M, N, K, act), ops.ToHost(y));
    }

    [Fact]
    public void LinearKeepsLeadingAxesAndWorksWithoutBias()
    {
        using var ops = new CpuOps();
        var x = Rand(4, 2, 3, 5, 11);
        var w = Rand(5, 6, 11);
        using var y = ops.Linear(x, w);
        Assert.Equal(new[] { 2, 3, 5, 6 }, y.Dims);
        Close(NaiveLinear(x.ToFloatArray(), w.ToFloatArray(), null, 30, 6, 11, Activation.None), ops.ToHost(y));
    }

    [Theory]
    [InlineData(1, true, false, false, false)]
    [InlineData(2, true, false, false, false)]
    [InlineData(2, false, false, false, false)]
    [InlineData(2, true, true, false, false)]
    [InlineData(1, true, false, true, false)]
    [InlineData(2, false, false, true, false)]
    [InlineData(2, true, false, true, false)]
    [InlineData(2, true, false, false, true)]
    [InlineData(2, true, false, true, true)]
    [InlineData(1, false, false, true, true)]
    public void LinearGatedResidualIntoIsXPlusGateTimesTheProjection(int B, bool withBias, bool sharedGate, bool outOfPlace, bool noGate)
    {
        const int N = 5, K = 11, D = 7;
        using var ops = new CpuOps();
        var x = Rand(1, B, N, D);
        var y = Rand(2, B, N, K);
        var w = Rand(3, D, K);
        var b = withBias ? Rand(4, D) : null;
        var gate = sharedGate ? Rand(5, D) : Rand(5, B, D);
        var xs = x.ToFloatArray();
        var p = NaiveLinear(y.ToFloatArray(), w.ToFloatArray(), b?.ToFloatArray(), B * N, D, K, Activation.None);
        var g = gate.ToFloatArray();
        var want = new double[xs.Length];
        for (int i = 0; i < B; i++)
            for (int t = 0; t < N; t++)
                for (int d = 0; d < D; d++)
                {
                    int e = (i * N + t) * D + d;
                    // no gate: a gate of 1, the plain residual
                    want[e] = xs[e] + (noGate ? 1f : g[(sharedGate ? 0 : i * D) + d]) * p[e];
                }
        using var output = outOfPlace ? ops.Empty(x.DType, B, N, D) : null;
        ops.LinearGatedResidualInto(x, y, w, b, noGate ? null : gate, output);
        Close(want, ops.ToHost(output ?? x));
        // out of place, x is only read
        if (outOfPlace) Assert.Equal(xs, ops.ToHost(x));
    }

    static double[] NaiveMatMul(float[] a, float[] b, int batches, int M, int N, int K, bool transB, bool sharedB, float alpha)
    {
        var c = new double[batches * M * N];
        for (int i = 0; i < batches; i++)
        {
            int bb = sharedB ? 0 : i;
            for (int m = 0; m < M; m++)
                for (int n = 0; n < N; n++)
                {
                    double acc = 0;
                    for (int k = 0; k < K; k++)
                        acc += (double)a[(i * M + m) * K + k] * (transB ? b[(bb * N + n) * K + k] : b[(bb * K + k) * N + n]);
                    c[(i * M + m) * N + n] = alpha * acc;
                }
        }
        return c;
    }

    [Theory]
    [InlineData(1, 5, 7, 3, false, false, 1f)]
    [InlineData(3, 17, 72, 33, false, false, 0.5f)]
    [InlineData(3, 17, 72, 33, true, false, 1f)]
    [InlineData(2, 65, 31, 130, true, false, -2f)]
    [InlineData(4, 9, 10, 11, false, true, 1f)]
    [InlineData(4, 9, 10, 11, true, true, 0.25f)]
    public void MatMulMatchesNaiveLoop(int batches, int M, int N, int K, bool transB, bool sharedB, float alpha)
    {
        using var ops = new CpuOps();
        var a = RandStrided(10, batches, M, K);
        var bShape = transB ? new[] { N, K } : new[] { K, N };
        var b = sharedB ? Rand(11, bShape) : Rand(11, [batches, .. bShape]);
        using var c = ops.MatMul(a, b, transB, alpha);
        Assert.Equal(new[] { batches, M, N }, c.Dims);
        Close(NaiveMatMul(a.ToFloatArray(), b.ToFloatArray(), batches, M, N, K, transB, sharedB, alpha), ops.ToHost(c));
    }

    [Fact]
    public void MatMulOnFourDimensionalStridedViews()
    {
        using var ops = new CpuOps();
        // [B, N, H, d] viewed as [B, H, N, d], as attention code does.
        var q = Rand(12, 2, 9, 3, 8).Permute(0, 2, 1, 3);
        var k = Rand(13, 2, 11, 3, 8).Permute(0, 2, 1, 3);
        using var s = ops.MatMul(q, k, transposeB: true);
        Assert.Equal(new[] { 2, 3, 9, 11 }, s.Dims);
        Close(NaiveMatMul(q.ToFloatArray(), k.ToFloatArray(), 6, 9, 11, 8, true, false, 1f), ops.ToHost(s));
    }

    [Fact]
    public void ShapeMismatchNamesBothShapes()
    {
        using var ops = new CpuOps();
        var ex = Assert.Throws<ArgumentException>(() => ops.Linear(Rand(1, 3, 5), Rand(2, 4, 6)));
        Assert.Contains("[3, 5]", ex.Message);
        Assert.Contains("[4, 6]", ex.Message);
        var ex2 = Assert.Throws<ArgumentException>(() => ops.MatMul(Rand(1, 2, 3, 5), Rand(2, 2, 4, 6)));
        Assert.Contains("[2, 3, 5]", ex2.Message);
        Assert.Contains("[2, 4, 6]", ex2.Message);
    }
}
