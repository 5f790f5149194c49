using XDit.Kernels.Cpu;
using static XDit.Tests.Kernels.OpsTestKit;

namespace XDit.Tests.Kernels;

public class CpuConvTests
{
    [Theory]
    [InlineData(2, 3, 7, 9, 5, 3, 1, 1, true)]
    [InlineData(1, 4, 9, 8, 6, 3, 2, 1, false)]
    [InlineData(2, 5, 6, 7, 3, 1, 1, 0, true)]
    [InlineData(1, 3, 8, 8, 4, 2, 2, 0, true)]
    [InlineData(1, 2, 5, 5, 3, 5, 1, 2, false)]
    public void Conv2dMatchesDirectLoop(int B, int C, int H, int W, int O, int k, int stride, int pad, bool bias)
    {
        using var ops = new CpuOps();
        var x = RandStrided(1, B, C, H, W);
        var w = Rand(2, O, C, k, k);
        var b = bias ? Rand(3, O) : null;
        using var y = ops.Conv2d(x, w, b, stride, pad);
        int Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1;
        Assert.Equal(new[] { B, O, Ho, Wo }, y.Dims);
        var xs = x.ToFloatArray(); var ws = w.ToFloatArray(); var bs = b?.ToFloatArray();
        var e = new double[B * O * Ho * Wo];
        for (int n = 0; n < B; n++)
            for (int o = 0; o < O; o++)
                for (int oy = 0; oy < Ho; oy++)
                    for (int ox = 0; ox < Wo; ox++)
                    {
                        double acc = bs?[o] ?? 0;
                        for (int c = 0; c < C; c++)
                            for (int ky = 0; ky < k; ky++)
                                for (int kx = 0; kx < k; kx++)
                                {
                                    int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                                    if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                                        acc += (double)xs[((n * C + c) * H + iy) * W + ix] * ws[((o * C + c) * k + ky) * k + kx];
                                }
                        e[((n * O + o) * Ho + oy) * Wo + ox] = acc;
                    }
        Close(e, ops.ToHost(y));
    }

    [Theory]
    [InlineData(9, 11)]   // the output's shape: a shortcut
    [InlineData(1, 1)]    // one value per batch and channel: a time embedding
    public void Conv2dWithAResidualIsTheConvolutionPlusTheResidual(int rh, int rw)
    {
        using var ops = new CpuOps();
        var (x, w, b, r) = (Rand(31, 2, 5, 9, 11), Rand(32, 7, 5, 3, 3), Rand(33, 7), Rand(34, 2, 7, rh, rw));
        using var fused = ops.Conv2d(x, w, b, 1, 1, r);
        using var conv = ops.Conv2d(x, w, b, 1, 1);
        using var sum = ops.Add(conv, r);
        Assert.Equal(ops.ToHost(sum), ops.ToHost(fused));
    }
}
