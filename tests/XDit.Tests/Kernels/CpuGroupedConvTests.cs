using XDit.Kernels.Cpu;
using static XDit.Tests.Kernels.OpsTestKit;

namespace XDit.Tests.Kernels;

public class CpuGroupedConvTests
{
    [Theory]
    [InlineData(2, 6, 5, 7, 6, 6, 3, 1, true)]    // depth-wise 3×3 (GLUMBConv's conv_depth)
    [InlineData(1, 4, 6, 9, 4, 4, 5, 2, false)]   // depth-wise 5×5 (DC-AE's multiscale proj_in)
    [InlineData(2, 12, 4, 3, 12, 6, 1, 0, false)] // grouped 1×1, groups = 3·heads (DC-AE's proj_out)
    [InlineData(1, 6, 5, 5, 9, 3, 3, 1, true)]    // two input and three output channels a group
    [InlineData(1, 3, 4, 4, 2, 1, 3, 0, true)]    // groups = 1 is Conv2d, no padding
    public void GroupedConv2dMatchesDirectLoop(int B, int C, int H, int W, int O, int groups, int k, int pad, bool bias)
    {
        using var ops = new CpuOps();
        var x = RandStrided(1, B, C, H, W);
        int cg = C / groups, og = O / groups;
        var w = Rand(2, O, cg, k, k);
        var b = bias ? Rand(3, O) : null;
        using var y = ops.GroupedConv2d(x, w, b, groups, pad);
        int Ho = H + 2 * pad - k + 1, Wo = W + 2 * pad - k + 1;
        Assert.Equal(new[] { B, O, Ho, Wo }, y.Dims);
        var xs = x.ToFloatArray(); var ws = w.ToFloatArray(); var bs = b?.ToFloatArray();
        var e = new double[B * O * Ho * Wo];
        for (int n = 0; n < B; n++)
            for (int o = 0; o < O; o++)
                for (int oy = 0; oy < Ho; oy++)
                    for (int ox = 0; ox < Wo; ox++)
                    {
                        double acc = bs?[o] ?? 0;
                        for (int ci = 0; ci < cg; ci++)
                        {
                            int c = o / og * cg + ci;
                            for (int ky = 0; ky < k; ky++)
                                for (int kx = 0; kx < k; kx++)
                                {
                                    int iy = oy - pad + ky, ix = ox - pad + kx;
                                    if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                                        acc += (double)xs[((n * C + c) * H + iy) * W + ix] * ws[((o * cg + ci) * k + ky) * k + kx];
                                }
                        }
                        e[((n * O + o) * Ho + oy) * Wo + ox] = acc;
                    }
        Close(e, ops.ToHost(y));
    }

    [Fact]
    public void OneGroupEqualsConv2d()
    {
        using var ops = new CpuOps();
        var x = Rand(4, 2, 5, 9, 11);
        var w = Rand(5, 0.3f, 7, 5, 3, 3);
        var b = Rand(6, 7);
        using var want = ops.Conv2d(x, w, b, 1, 1);
        using var got = ops.GroupedConv2d(x, w, b, 1, 1);
        Close(ops.ToHost(want), ops.ToHost(got));
    }
}
