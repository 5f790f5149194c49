using XDit.Runtime;
using XDit.Kernels.Cpu;
using static XDit.Tests.Kernels.OpsTestKit;

namespace XDit.Tests.Kernels;

public class CpuNormTests
{
    [Theory]
    [InlineData(7, 33, true, false)]
    [InlineData(5, 72, false, true)]
    [InlineData(1, 1, true, true)]
    public void LayerNormMatchesNaive(int rows, int D, bool affine, bool strided)
    {
        using var ops = new CpuOps();
        var x = Input(strided, 1, rows, D);
        var w = affine ? Rand(2, D) : null;
        var b = affine ? Rand(3, D) : null;
        using var y = ops.LayerNorm(x, w, b, 1e-6f);
        var xs = x.ToFloatArray();
        var e = new double[rows * D];
        for (int r = 0; r < rows; r++)
        {
            double mean = 0, var = 0;
            for (int j = 0; j < D; j++) mean += xs[r * D + j];
            mean /= D;
            for (int j = 0; j < D; j++) var += Math.Pow(xs[r * D + j] - mean, 2);
            var /= D;
            for (int j = 0; j < D; j++)
                e[r * D + j] = (xs[r * D + j] - mean) / Math.Sqrt(var + 1e-6) * (w?.ToFloatArray()[j] ?? 1) + (b?.ToFloatArray()[j] ?? 0);
        }
        if (D == 1) { Assert.All(ops.ToHost(y), v => Assert.Equal(b!.ToFloatArray()[0], v, 6)); return; }
        Close(e, ops.ToHost(y));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ResidualLayerNormModulateMatchesNaive(bool gated)
    {
        // x, y [2, 3, 10]; gate, shift and scale are chunks 0..2 of a packed [2, 3·10] modulation (strided views)
        const int B = 2, N = 3, D = 10;
        using var ops = new CpuOps();
        var x = Rand(11, B, N, D);
        var y = Rand(12, B, N, D);
        var packed = Rand(13, B, 3 * D);
        Tensor? gate = gated ? packed.Slice(1, 0, D) : null;
        var (res, normed) = ops.ResidualLayerNormModulate(x, gate, y, packed.Slice(1, D, D), packed.Slice(1, 2 * D, D), 1e-6f);
        using var r = res;
        using var n = normed;
        var (xs, ys, ps) = (x.ToFloatArray(), y.ToFloatArray(), packed.ToFloatArray());
        var er = new double[B * N * D];
        var en = new double[B * N * D];
        for (int b = 0; b < B; b++)
            for (int t = 0; t < N; t++)
            {
                int at = (b * N + t) * D;
                double mean = 0, var = 0;
                for (int j = 0; j < D; j++) { er[at + j] = xs[at + j] + (gated ? ps[b * 3 * D + j] : 1) * ys[at + j]; mean += er[at + j]; }
                mean /= D;
                for (int j = 0; j < D; j++) var += Math.Pow(er[at + j] - mean, 2);
                var /= D;
                for (int j = 0; j < D; j++)
                    en[at + j] = (er[at + j] - mean) / Math.Sqrt(var + 1e-6) * (1 + ps[b * 3 * D + 2 * D + j]) + ps[b * 3 * D + D + j];
            }
        Close(er, ops.ToHost(r));
        Close(en, ops.ToHost(n));
        using var direct = ops.LayerNormModulate(r, packed.Slice(1, D, D), packed.Slice(1, 2 * D, D), 1e-6f);
        Close(en, ops.ToHost(direct));
    }

    [Theory]
    [InlineData(9, 72, true, false)]
    [InlineData(4, 31, false, true)]
    public void RmsNormMatchesNaive(int rows, int D, bool affine, bool strided)
    {
        using var ops = new CpuOps();
        var x = Input(strided, 4, rows, D);
        var w = affine ? Rand(5, D) : null;
        using var y = ops.RmsNorm(x, w, 1e-5f);
        var xs = x.ToFloatArray();
        var e = new double[rows * D];
        for (int r = 0; r < rows; r++)
        {
            double ms = 0;
            for (int j = 0; j < D; j++) ms += (double)xs[r * D + j] * xs[r * D + j];
            ms /= D;
            for (int j = 0; j < D; j++) e[r * D + j] = xs[r * D + j] / Math.Sqrt(ms + 1e-5) * (w?.ToFloatArray()[j] ?? 1);
        }
        Close(e, ops.ToHost(y));
    }

    [Theory]
    [InlineData(true, true)]
    [InlineData(false, false)]
    public void RmsNormModulateMatchesNaive(bool weighted, bool shifted)
    {
        // x [2, 3, 10] (strided rows); shift and scale chunks of a packed [2, 2·10] modulation (strided views), the
        // shift absent for a scale-only modulation (Mochi, Z-Image)
        const int B = 2, N = 3, D = 10;
        using var ops = new CpuOps();
        var x = Input(true, 31, B, N, D);
        var w = weighted ? Rand(32, D) : null;
        var packed = Rand(33, B, 2 * D);
        using var y = ops.RmsNormModulate(x, w, shifted ? packed.Slice(1, 0, D) : null, packed.Slice(1, D, D), 1e-6f);
        var (xs, ps) = (x.ToFloatArray(), packed.ToFloatArray());
        var e = new double[B * N * D];
        for (int b = 0; b < B; b++)
            for (int t = 0; t < N; t++)
            {
                int at = (b * N + t) * D;
                double ms = 0;
                for (int j = 0; j < D; j++) ms += (double)xs[at + j] * xs[at + j];
                ms /= D;
                for (int j = 0; j < D; j++)
                    e[at + j] = xs[at + j] / Math.Sqrt(ms + 1e-6) * (w?.ToFloatArray()[j] ?? 1) * (1 + ps[b * 2 * D + D + j])
                        + (shifted ? ps[b * 2 * D + j] : 0);
            }
        Close(e, ops.ToHost(y));
    }

    [Fact]
    public void RmsNormRopeWithoutTablesNormsAStridedViewInPlace()
    {
        // q of a packed [B, N, 3, H, d] tensor, as SD3.5's qk-norm writes it back; k and v must stay as they were
        const int B = 2, N = 3, H = 2, d = 8;
        using var ops = new CpuOps();
        var packed = Rand(6, B, N, 3 * H * d);
        var before = packed.ToFloatArray();
        var w = Rand(7, d);
        var q = packed.Reshape(B, N, 3, H, d).Select(2, 0);
        ops.RmsNormRope(q, q, w, null, null, 1e-6f, interleaved: false);
        var got = ops.ToHost(packed);
        var ws = w.ToFloatArray();
        var e = before.Select(v => (double)v).ToArray();
        for (int row = 0; row < B * N; row++)
            for (int h = 0; h < H; h++)
            {
                int at = row * 3 * H * d + h * d;   // q's head h of this token
                double ms = 0;
                for (int j = 0; j < d; j++) ms += (double)before[at + j] * before[at + j];
                ms /= d;
                for (int j = 0; j < d; j++) e[at + j] = before[at + j] / Math.Sqrt(ms + 1e-6) * ws[j];
            }
        Close(e, got);
    }

    [Fact]
    public void LinearRmsNormRopeIntoProjectsThenNormsEachHeadWithItsGroupsRowAndRotates()
    {
        // Flux's q and k of one stream: x·Wᵀ + b to 2H heads written into the q/k columns of packed [B, N, 3·H·d]
        // rows, q heads normed with weight row 0 and k heads with row 1, each pair (2i, 2i+1) rotated; v's columns
        // stay as they were
        const int B = 2, N = 3, K = 5, H = 2, d = 4;
        using var ops = new CpuOps();
        var packed = Rand(13, B, N, 3 * H * d);
        var before = packed.ToFloatArray();
        var (x, w, bias, norm, cos, sin) = (Rand(14, B, N, K), Rand(15, 2 * H * d, K), Rand(16, 2 * H * d), Rand(17, 2, d), Rand(18, N, d), Rand(19, N, d));
        var qk = new Tensor(packed.Storage, packed.DType, [B, N, 2 * H, d], [N * 3 * H * d, 3 * H * d, d, 1]);
        ops.LinearRmsNormRopeInto(qk, x, w, bias, norm, cos, sin, 1e-6f, interleaved: true);
        var got = ops.ToHost(packed);
        var (xs, ws, bs, ns, cs, ss) = (x.ToFloatArray(), w.ToFloatArray(), bias.ToFloatArray(), norm.ToFloatArray(), cos.ToFloatArray(), sin.ToFloatArray());
        var e = before.Select(v => (double)v).ToArray();
        for (int row = 0; row < B * N; row++)
            for (int h = 0; h < 2 * H; h++)
            {
                int n = row % N, at = row * 3 * H * d + h * d;
                var p = new double[d];
                for (int j = 0; j < d; j++)
                {
                    p[j] = bs[h * d + j];
                    for (int k = 0; k < K; k++) p[j] += (double)xs[row * K + k] * ws[(h * d + j) * K + k];
                }
                double ms = p.Sum(v => v * v) / d;
                var y = p.Select((v, j) => v / Math.Sqrt(ms + 1e-6) * ns[h / H * d + j]).ToArray();
                for (int j = 0; j < d; j += 2)
                {
                    e[at + j] = y[j] * cs[n * d + j] - y[j + 1] * ss[n * d + j];
                    e[at + j + 1] = y[j + 1] * cs[n * d + j + 1] + y[j] * ss[n * d + j + 1];
                }
            }
        Close(e, got);
    }

    [Fact]
    public void LinearRmsNormRopeIntoRotatesEachHeadByItsOwnColumnsOfPerHeadTables()
    {
        // Mochi's video q: tables [N, H·d], head h rotated by columns h·d .. h·d + d of its token's row
        const int B = 1, N = 3, K = 4, H = 2, d = 4;
        using var ops = new CpuOps();
        var (x, w, norm, cos, sin) = (Rand(20, B, N, K), Rand(21, H * d, K), Rand(22, d), Rand(23, N, H * d), Rand(24, N, H * d));
        using var y = ops.Zeros(DType.F32, B, N, H, d);
        ops.LinearRmsNormRopeInto(y, x, w, null, norm, cos, sin, 1e-6f, interleaved: true);
        var got = ops.ToHost(y);
        var (xs, ws, ns, cs, ss) = (x.ToFloatArray(), w.ToFloatArray(), norm.ToFloatArray(), cos.ToFloatArray(), sin.ToFloatArray());
        var e = new double[got.Length];
        for (int n = 0; n < N; n++)
            for (int h = 0; h < H; h++)
            {
                var p = new double[d];
                for (int j = 0; j < d; j++)
                    for (int k = 0; k < K; k++) p[j] += (double)xs[n * K + k] * ws[(h * d + j) * K + k];
                double ms = p.Sum(v => v * v) / d;
                var u = p.Select((v, j) => v / Math.Sqrt(ms + 1e-6) * ns[j]).ToArray();
                int at = (n * H + h) * d, t = n * H * d + h * d;   // y's head, the table row's columns of this head
                for (int j = 0; j < d; j += 2)
                {
                    e[at + j] = u[j] * cs[t + j] - u[j + 1] * ss[t + j];
                    e[at + j + 1] = u[j + 1] * cs[t + j + 1] + u[j] * ss[t + j + 1];
                }
            }
        Close(e, got);
    }

    [Fact]
    public void RmsNormGatedResidualAddsTheGatedNormOfY()
    {
        // x + gate[b]·y·rsqrt(mean(y²) + eps)·w per row; without a gate, x + the norm
        const int B = 2, N = 3, D = 4;
        using var ops = new CpuOps();
        var (x, y, gate, w) = (Rand(30, B, N, D), Rand(31, B, N, D), Rand(32, B, D), Rand(33, D));
        var (xs, ys, gs, ws) = (x.ToFloatArray(), y.ToFloatArray(), gate.ToFloatArray(), w.ToFloatArray());
        foreach (bool gated in new[] { true, false })
        {
            using var got = ops.RmsNormGatedResidual(x, gated ? gate : null, y, w, 1e-6f);
            var e = new double[B * N * D];
            for (int row = 0; row < B * N; row++)
            {
                double ms = 0;
                for (int c = 0; c < D; c++) ms += (double)ys[row * D + c] * ys[row * D + c];
                double r = 1 / Math.Sqrt(ms / D + 1e-6);
                for (int c = 0; c < D; c++)
                    e[row * D + c] = xs[row * D + c] + (gated ? gs[row / N * D + c] : 1) * ys[row * D + c] * r * ws[c];
            }
            Close(e, ops.ToHost(got));
        }
    }

    [Fact]
    public void LayerNormRopeNormsAndRotatesAStridedViewInPlace()
    {
        // k of a packed [B, N, 3, H, d] tensor (HunyuanDiT's self-attention keys): per head LayerNorm with affine,
        // then the interleaved rotation of pairs (2i, 2i+1); q and v must stay as they were. Inputs off zero, so a
        // norm that skipped the centring would miss by far
        const int B = 2, N = 3, H = 2, d = 8;
        using var ops = new CpuOps();
        var packed = Tensor.FromArray(Rand(8, B, N, 3 * H * d).ToFloatArray().Select(v => v + 0.75f).ToArray(), B, N, 3 * H * d);
        var before = packed.ToFloatArray();
        var (w, b, cos, sin) = (Rand(9, d), Rand(10, d), Rand(11, N, d), Rand(12, N, d));
        var k = packed.Reshape(B, N, 3, H, d).Select(2, 1);
        ops.LayerNormRope(k, k, w, b, cos, sin, 1e-6f, interleaved: true);
        var got = ops.ToHost(packed);
        var (ws, bs, cs, ss) = (w.ToFloatArray(), b.ToFloatArray(), cos.ToFloatArray(), sin.ToFloatArray());
        var e = before.Select(v => (double)v).ToArray();
        for (int row = 0; row < B * N; row++)
            for (int h = 0; h < H; h++)
            {
                int at = row * 3 * H * d + H * d + h * d, n = row % N;   // k's head h of this token
                double mean = 0, v = 0;
                for (int j = 0; j < d; j++) mean += before[at + j];
                mean /= d;
                for (int j = 0; j < d; j++) v += (before[at + j] - mean) * (before[at + j] - mean);
                var y = new double[d];
                for (int j = 0; j < d; j++) y[j] = (before[at + j] - mean) / Math.Sqrt(v / d + 1e-6) * ws[j] + bs[j];
                for (int j = 0; j < d; j += 2)
                {
                    e[at + j] = y[j] * cs[n * d + j] - y[j + 1] * ss[n * d + j];
                    e[at + j + 1] = y[j + 1] * cs[n * d + j + 1] + y[j] * ss[n * d + j + 1];
                }
            }
        Close(e, got);
    }

    [Fact]
    public void LayerNormRopeWithRowsPerGroupOfHeadsNormsEachGroupWithItsRow()
    {
        // [B, N, 4, d] with weight and bias [2, d]: heads 0-1 take row 0, heads 2-3 row 1 (q and k of one view)
        const int B = 1, N = 2, H = 4, d = 6;
        using var ops = new CpuOps();
        var x = Rand(19, B, N, H, d);
        var (w, b, cos, sin) = (Rand(20, 2, d), Rand(21, 2, d), Rand(22, N, d), Rand(23, N, d));
        using var y = ops.Zeros(DType.F32, B, N, H, d);
        ops.LayerNormRope(y, x, w, b, cos, sin, 1e-6f, interleaved: true);
        var want = new float[B * N * H * d];
        for (int g = 0; g < 2; g++)
        {
            using var n = ops.LayerNorm(x.Slice(2, 2 * g, 2), w.Select(0, g), b.Select(0, g), 1e-6f);
            using var r = ops.Rope(n, cos, sin, interleaved: true);
            var rs = r.ToFloatArray();
            for (int t = 0; t < N; t++)
                Array.Copy(rs, t * 2 * d, want, t * H * d + 2 * g * d, 2 * d);
        }
        Close(want, ops.ToHost(y));
        // the rows must divide the heads
        Assert.Throws<ArgumentException>(() => ops.LayerNormRope(y, x, Rand(24, 3, d), null, cos, sin, 1e-6f, true));
    }

    [Fact]
    public void LayerNormModulateOfTwoPartsNormsTheirConcatenation()
    {
        // HunyuanDiT's skip_norm(cat[x, skip]): one row of D1 + D2 features, statistics over both parts
        const int B = 2, N = 3, D1 = 5, D2 = 3;
        using var ops = new CpuOps();
        var (x, x2, shift, scale) = (Rand(13, B, N, D1), Rand(14, B, N, D2), Rand(15, D1 + D2), Rand(16, B, D1 + D2));
        using var y = ops.LayerNormModulate(x, shift, scale, 1e-6f, x2);
        Assert.Equal([B, N, D1 + D2], y.Dims);
        var (xs, x2s, sh, sc) = (x.ToFloatArray(), x2.ToFloatArray(), shift.ToFloatArray(), scale.ToFloatArray());
        var e = new double[B * N * (D1 + D2)];
        for (int r = 0; r < B * N; r++)
        {
            var row = xs.Skip(r * D1).Take(D1).Concat(x2s.Skip(r * D2).Take(D2)).Select(v => (double)v).ToArray();
            double mean = row.Average(), v = row.Sum(t => (t - mean) * (t - mean)) / row.Length;
            for (int j = 0; j < row.Length; j++)
                e[r * row.Length + j] = (row[j] - mean) / Math.Sqrt(v + 1e-6) * (1 + sc[r / N * row.Length + j]) + sh[j];
        }
        Close(e, ops.ToHost(y));
        // a second part of another batch is refused by the contract
        Assert.Throws<ArgumentException>(() => ops.LayerNormModulate(x, shift, Rand(17, D1 + D2), 1e-6f, Rand(18, 1, N, D2)));
    }

    [Theory]
    [InlineData(2, 12, 3, 5, 7, true)]
    [InlineData(1, 8, 8, 3, 3, false)]
    [InlineData(2, 6, 1, 9, 1, true)]
    public void GroupNormMatchesNaive(int B, int C, int G, int H, int W, bool affine)
    {
        using var ops = new CpuOps();
        var x = RandStrided(6, B, C, H, W);
        var w = affine ? Rand(7, C) : null;
        var b = affine ? Rand(8, C) : null;
        using var y = ops.GroupNorm(x, G, w, b, 1e-6f);
        var xs = x.ToFloatArray();
        int S = H * W, cpg = C / G;
        var e = new double[xs.Length];
        for (int bi = 0; bi < B; bi++)
            for (int g = 0; g < G; g++)
            {
                double mean = 0, var = 0;
                for (int c = g * cpg; c < (g + 1) * cpg; c++)
                    for (int s = 0; s < S; s++) mean += xs[(bi * C + c) * S + s];
                mean /= cpg * S;
                for (int c = g * cpg; c < (g + 1) * cpg; c++)
                    for (int s = 0; s < S; s++) var += Math.Pow(xs[(bi * C + c) * S + s] - mean, 2);
                var /= cpg * S;
                for (int c = g * cpg; c < (g + 1) * cpg; c++)
                    for (int s = 0; s < S; s++)
                        e[(bi * C + c) * S + s] = (xs[(bi * C + c) * S + s] - mean) / Math.Sqrt(var + 1e-6) * (w?.ToFloatArray()[c] ?? 1) + (b?.ToFloatArray()[c] ?? 0);
            }
        Close(e, ops.ToHost(y));
    }

    [Fact]
    public void SoftmaxMatchesNaiveAndHandlesMaskedEntries()
    {
        using var ops = new CpuOps();
        int rows = 6, D = 37;
        var data = Numerics.Random(rows * D, 9, 5f);
        data[3] = float.NegativeInfinity;
        for (int j = 0; j < D; j++) data[5 * D + j] = float.NegativeInfinity; // last row fully masked
        using var y = ops.Softmax(XDit.Runtime.Tensor.FromArray(data, rows, D));
        var e = new double[rows * D];
        for (int r = 0; r < rows - 1; r++)
        {
            double sum = 0;
            for (int j = 0; j < D; j++) sum += Math.Exp(data[r * D + j]);
            for (int j = 0; j < D; j++) e[r * D + j] = Math.Exp(data[r * D + j]) / sum;
        }
        var got = ops.ToHost(y);
        Close(e, got);
        Assert.Equal(0f, got[3]);
    }

    [Fact]
    public void GroupNormWithAnActivationIsTheActivationOfTheNorm()
    {
        using var ops = new CpuOps();
        var x = RandStrided(12, 2, 12, 5, 7);
        var (w, b) = (Rand(13, 12), Rand(14, 12));
        using var fused = ops.GroupNorm(x, 3, w, b, 1e-6f, XDit.Kernels.Activation.Silu);
        using var n = ops.GroupNorm(x, 3, w, b, 1e-6f);
        using var twoPasses = ops.Activate(n, XDit.Kernels.Activation.Silu);
        Assert.Equal(ops.ToHost(twoPasses), ops.ToHost(fused));
        Assert.NotEqual(ops.ToHost(n), ops.ToHost(fused));
    }

    [Fact]
    public void RmsNormAcrossHeadsRopeNormsEachTokensWholeRowAndRotatesEachHeadInPlace()
    {
        // q of a packed [B, N, 3, H, d] tensor (dense heads, token stride 3·H·d): one mean square over all H·d features
        // of a token, weight [H·d], then each head's interleaved rotation by the token's table row; k and v untouched
        const int B = 2, N = 3, H = 2, d = 6;
        using var ops = new CpuOps();
        var packed = Rand(21, B, N, 3 * H * d);
        var before = packed.ToFloatArray();
        var w = Rand(22, H * d);
        var cos = Rand(23, N, d);
        var sin = Rand(24, N, d);
        var q = packed.Reshape(B, N, 3, H, d).Select(2, 0);
        ops.RmsNormAcrossHeadsRope(q, q, w, cos, sin, 1e-6f, interleaved: true);
        var got = ops.ToHost(packed);
        var (ws, cs, ss) = (w.ToFloatArray(), cos.ToFloatArray(), sin.ToFloatArray());
        var e = before.Select(v => (double)v).ToArray();
        for (int row = 0; row < B * N; row++)
        {
            int at = row * 3 * H * d, n = row % N;
            double ms = 0;
            for (int j = 0; j < H * d; j++) ms += (double)before[at + j] * before[at + j];
            double r = 1 / Math.Sqrt(ms / (H * d) + 1e-6);
            for (int h = 0; h < H; h++)
                for (int i = 0; i < d; i += 2)
                {
                    int a = at + h * d + i;
                    double u = before[a] * r * ws[h * d + i], v = before[a + 1] * r * ws[h * d + i + 1];
                    e[a] = u * cs[n * d + i] - v * ss[n * d + i];
                    e[a + 1] = v * cs[n * d + i + 1] + u * ss[n * d + i + 1];
                }
        }
        Close(e, got);
        var bad = Rand(25, B, N, H, d).Permute(0, 1, 3, 2);   // heads not dense
        Assert.Contains("must be dense", Assert.Throws<ArgumentException>(() => ops.RmsNormAcrossHeadsRope(bad, bad, null, null, null, 1e-6f, true)).Message);
    }

    /// <summary>ChannelRmsNorm of [B, C, T, H, W] against a naive float64 loop over the channels of each position
    /// (weight or none, SiLU or none, a strided input).</summary>
    [Theory]
    [InlineData(true, true)]
    [InlineData(false, false)]
    public void ChannelRmsNormMatchesNaive(bool weighted, bool silu)
    {
        using var ops = new CpuOps();
        int B = 2, C = 5, S = 3 * 4 * 6;
        var x = RandStrided(15, B, C, 3, 4, 6);
        var w = weighted ? Rand(16, C) : null;
        var act = silu ? XDit.Kernels.Activation.Silu : XDit.Kernels.Activation.None;
        using var y = ops.ChannelRmsNorm(x, w, 1e-6f, act);
        Assert.Equal(x.Dims, y.Dims);
        var xs = ops.ToHost(x);
        var ws = w is null ? null : ops.ToHost(w);
        var e = new double[xs.Length];
        for (int b = 0; b < B; b++)
            for (int s = 0; s < S; s++)
            {
                double sum = 0;
                for (int c = 0; c < C; c++) sum += (double)xs[(b * C + c) * S + s] * xs[(b * C + c) * S + s];
                double r = 1 / Math.Sqrt(sum / C + 1e-6);
                for (int c = 0; c < C; c++)
                {
                    double v = xs[(b * C + c) * S + s] * r * (ws?[c] ?? 1f);
                    e[(b * C + c) * S + s] = silu ? v / (1 + Math.Exp(-v)) : v;
                }
            }
        Close(e, ops.ToHost(y));
    }
}
