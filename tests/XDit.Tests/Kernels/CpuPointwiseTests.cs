using XDit.Kernels;
using XDit.Kernels.Cpu;
using XDit.Runtime;
using static XDit.Tests.Kernels.OpsTestKit;

namespace XDit.Tests.Kernels;

public class CpuPointwiseTests
{
    [Theory]
    [InlineData(Activation.Gelu)]
    [InlineData(Activation.GeluTanh)]
    [InlineData(Activation.Silu)]
    [InlineData(Activation.QuickGelu)]
    [InlineData(Activation.Relu)]
    [InlineData(Activation.Tanh)]
    [InlineData(Activation.None)]
    public void ActivationsMatchTheirFormulas(Activation act)
    {
        using var ops = new CpuOps();
        var x = RandStrided(1, 13, 11);
        using var y = ops.Activate(x, act);
        var src = x.ToFloatArray();
        Close(src.Select(v => Act(v, act)).ToArray(), ops.ToHost(y));
        using var big = ops.Activate(Rand(2, 6f, 101), act); // tails (|x| up to 6)
        Close(Rand(2, 6f, 101).ToFloatArray().Select(v => Act(v, act)).ToArray(), ops.ToHost(big));
    }

    /// <summary>b broadcast to a's shape by NumPy rules, computed by index arithmetic.</summary>
    static double[] NaiveBroadcast(float[] a, int[] aShape, float[] b, int[] bShape, bool mul)
    {
        var r = new double[a.Length];
        int lead = aShape.Length - bShape.Length;
        var idx = new int[aShape.Length];
        for (int n = 0; n < a.Length; n++)
        {
            int rem = n;
            for (int i = aShape.Length - 1; i >= 0; i--) { idx[i] = rem % aShape[i]; rem /= aShape[i]; }
            int bi = 0;
            for (int i = 0; i < bShape.Length; i++) bi = bi * bShape[i] + (bShape[i] == 1 ? 0 : idx[lead + i]);
            r[n] = mul ? (double)a[n] * b[bi] : (double)a[n] + b[bi];
        }
        return r;
    }

    public static TheoryData<int[], int[], bool> BroadcastCases => new()
    {
        { [2, 3, 5, 7], [3, 1, 7], false },
        { [2, 3, 5, 7], [7], true },
        { [2, 3, 5, 7], [1], false },
        { [2, 3, 5, 7], [5, 1], true },
        { [2, 3, 5, 7], [2, 3, 5, 7], false },
        { [4, 9], [4, 1], true },
        { [6], [6], false },
    };

    [Theory]
    [MemberData(nameof(BroadcastCases))]
    public void AddAndMulBroadcastLikeNumPy(int[] aShape, int[] bShape, bool stridedB)
    {
        using var ops = new CpuOps();
        var a = RandStrided(3, aShape);
        var b = stridedB && bShape.Length > 1 ? RandStrided(4, bShape) : Rand(4, bShape);
        using var sum = ops.Add(a, b);
        using var prod = ops.Mul(a, b);
        Assert.Equal(aShape, sum.Dims);
        Close(NaiveBroadcast(a.ToFloatArray(), aShape, b.ToFloatArray(), bShape, false), ops.ToHost(sum));
        Close(NaiveBroadcast(a.ToFloatArray(), aShape, b.ToFloatArray(), bShape, true), ops.ToHost(prod));
        var ex = Assert.Throws<ArgumentException>(() => ops.Add(a, Rand(5, 4)));
        Assert.Contains(Shape.Format(aShape), ex.Message);
        Assert.Contains("[4]", ex.Message);
    }

    [Fact]
    public void ScaleIsAffine()
    {
        using var ops = new CpuOps();
        var x = RandStrided(6, 5, 9);
        using var y = ops.Scale(x, 1.5f, -0.25f);
        Close(x.ToFloatArray().Select(v => v * 1.5 - 0.25).ToArray(), ops.ToHost(y));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ModulateAndGatedResidualBroadcastOverTokens(bool perBatch)
    {
        using var ops = new CpuOps();
        int B = 2, N = 7, D = 19;
        var x = RandStrided(7, B, N, D);
        var y = Rand(8, B, N, D);
        int[] vShape = perBatch ? [B, D] : [D];
        var shift = Rand(9, vShape);
        var scale = Rand(10, vShape);
        var gate = RandStrided(11, vShape);
        using var m = ops.Modulate(x, shift, scale);
        using var g = ops.GatedResidual(x, gate, y);
        var xs = x.ToFloatArray(); var ys = y.ToFloatArray();
        var sh = shift.ToFloatArray(); var sc = scale.ToFloatArray(); var ga = gate.ToFloatArray();
        var em = new double[xs.Length]; var eg = new double[xs.Length];
        for (int b = 0; b < B; b++)
            for (int n = 0; n < N; n++)
                for (int j = 0; j < D; j++)
                {
                    int i = (b * N + n) * D + j, vi = (perBatch ? b * D : 0) + j;
                    em[i] = xs[i] * (1.0 + sc[vi]) + sh[vi];
                    eg[i] = xs[i] + (double)ga[vi] * ys[i];
                }
        Close(em, ops.ToHost(m));
        Close(eg, ops.ToHost(g));
        Assert.Throws<ArgumentException>(() => ops.Modulate(x, Rand(1, D + 1), scale));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void RopeRotatesThePairsTheDocNames(bool interleaved)
    {
        using var ops = new CpuOps();
        int B = 2, N = 5, H = 3, d = 72;
        var x = Rand(12, B, H, N, d).Permute(0, 2, 1, 3);
        var cos = Rand(13, N, d);
        var sin = Rand(14, N, d);
        using var y = ops.Rope(x, cos, sin, interleaved);
        var xs = x.ToFloatArray(); var c = cos.ToFloatArray(); var s = sin.ToFloatArray();
        var e = new double[xs.Length];
        for (int b = 0; b < B; b++)
            for (int n = 0; n < N; n++)
                for (int h = 0; h < H; h++)
                {
                    int o = ((b * N + n) * H + h) * d;
                    for (int i = 0; i < d; i++)
                    {
                        // partner of i and the sign of its term: (2i, 2i+1) or (i, i+d/2); the first of a pair subtracts.
                        bool first = interleaved ? i % 2 == 0 : i < d / 2;
                        int partner = interleaved ? (first ? i + 1 : i - 1) : (first ? i + d / 2 : i - d / 2);
                        e[o + i] = (double)xs[o + i] * c[n * d + i] + (first ? -1 : 1) * (double)xs[o + partner] * s[n * d + i];
                    }
                }
        Close(e, ops.ToHost(y));
    }

    [Theory]
    [InlineData(true, 0f, 1f, 64)]
    [InlineData(false, 1f, 1000f, 33)]
    public void TimestepEmbeddingMatchesTheFormula(bool flip, float shift, float scale, int dim)
    {
        using var ops = new CpuOps();
        float[] t = [0f, 1.5f, 7f, 999f];
        using var y = ops.TimestepEmbedding(t, dim, flip, shift, flip ? 1f : 1f / scale * 10f, 10000f);
        int half = dim / 2;
        float sc = flip ? 1f : 1f / scale * 10f;
        var e = new double[t.Length * dim];
        for (int n = 0; n < t.Length; n++)
            for (int k = 0; k < half; k++)
            {
                double a = t[n] * Math.Exp(-Math.Log(10000) * k / (half - shift)) * sc;
                e[n * dim + k] = flip ? Math.Cos(a) : Math.Sin(a);
                e[n * dim + half + k] = flip ? Math.Sin(a) : Math.Cos(a);
            }
        Assert.Equal(new[] { t.Length, dim }, y.Dims);
        Close(e, ops.ToHost(y), 1e-4); // float32 angles of up to ~1000 rad carry ~6e-5 absolute error
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void GegluIsTheHiddenHalfTimesGeluOfTheGate(bool strided)
    {
        using var ops = new CpuOps();
        var x = Input(strided, 11, 3, 5, 2 * 7);   // [.., 2F]: hidden = the first F, gate = the last F
        using var y = ops.Geglu(x);
        Assert.Equal(new[] { 3, 5, 7 }, y.Dims);
        var xs = x.ToFloatArray();
        var e = new double[3 * 5 * 7];
        for (int r = 0; r < 15; r++)
            for (int j = 0; j < 7; j++)
                e[r * 7 + j] = xs[r * 14 + j] * Act(xs[r * 14 + 7 + j], Activation.Gelu);
        Close(e, ops.ToHost(y));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SwigluIsSiluOfTheGateHalfTimesTheValue(bool strided)
    {
        using var ops = new CpuOps();
        var x = Input(strided, 12, 3, 5, 2 * 7);   // [.., 2F]: gate = the first F, value = the last F (Flux 2's order)
        using var y = ops.Swiglu(x);
        Assert.Equal(new[] { 3, 5, 7 }, y.Dims);
        var xs = x.ToFloatArray();
        var e = new double[3 * 5 * 7];
        for (int r = 0; r < 15; r++)
            for (int j = 0; j < 7; j++)
                e[r * 7 + j] = Act(xs[r * 14 + j], Activation.Silu) * xs[r * 14 + 7 + j];
        Close(e, ops.ToHost(y));
    }
}
