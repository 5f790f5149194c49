using XDit.Kernels.Cpu;
using XDit.Runtime;
using static XDit.Tests.Kernels.OpsTestKit;

namespace XDit.Tests.Kernels;

public class CpuLayoutTests
{
    [Fact]
    public void ContiguousCopyAndConcatFollowLogicalOrder()
    {
        using var ops = new CpuOps();
        var a = RandStrided(1, 2, 3, 5);
        var b = Rand(2, 2, 4, 5);
        var c = RandStrided(3, 2, 1, 5);
        using var cat = ops.Concat(1, a, b, c);
        Assert.Equal(new[] { 2, 8, 5 }, cat.Dims);
        var e = new float[2 * 8 * 5];
        var (af, bf, cf) = (a.ToFloatArray(), b.ToFloatArray(), c.ToFloatArray());
        for (int i = 0; i < 2; i++)
            for (int r = 0; r < 8; r++)
                for (int j = 0; j < 5; j++)
                    e[(i * 8 + r) * 5 + j] = r < 3 ? af[(i * 3 + r) * 5 + j] : r < 7 ? bf[(i * 4 + r - 3) * 5 + j] : cf[i * 5 + j];
        Assert.Equal(e, ops.ToHost(cat));

        using var cont = ops.Contiguous(a);
        Assert.True(cont.IsContiguous);
        Assert.Equal(a.ToFloatArray(), ops.ToHost(cont));

        // Copy into a strided destination (the middle rows of a zero tensor).
        using var dst = ops.Zeros(DType.F32, 2, 7, 5);
        ops.Copy(dst.Slice(1, 2, 3), a);
        var d = ops.ToHost(dst);
        for (int i = 0; i < 2; i++)
            for (int r = 0; r < 7; r++)
                for (int j = 0; j < 5; j++)
                    Assert.Equal(r >= 2 && r < 5 ? af[(i * 3 + r - 2) * 5 + j] : 0f, d[(i * 7 + r) * 5 + j]);
        var ex = Assert.Throws<ArgumentException>(() => ops.Concat(1, a, Rand(4, 3, 1, 5)));
        Assert.Contains("[2, 3, 5]", ex.Message);
        Assert.Contains("[3, 1, 5]", ex.Message);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void PatchifyMatchesIndexFormulaAndUnpatchifyInvertsIt(bool channelsFirst)
    {
        using var ops = new CpuOps();
        int B = 2, C = 3, p = 2, gh = 3, gw = 5;
        var x = RandStrided(5, B, C, gh * p, gw * p);
        using var t = ops.Patchify(x, p, channelsFirst);
        Assert.Equal(new[] { B, gh * gw, C * p * p }, t.Dims);
        var xs = x.ToFloatArray();
        var got = ops.ToHost(t);
        int H = gh * p, W = gw * p, F = C * p * p;
        for (int b = 0; b < B; b++)
            for (int c = 0; c < C; c++)
                for (int y = 0; y < H; y++)
                    for (int xx = 0; xx < W; xx++)
                    {
                        int token = (y / p) * gw + xx / p, a = y % p, bb = xx % p;
                        int f = channelsFirst ? c * p * p + a * p + bb : (a * p + bb) * C + c;
                        Assert.Equal(xs[((b * C + c) * H + y) * W + xx], got[(b * gh * gw + token) * F + f]);
                    }
        using var back = ops.Unpatchify(t, p, C, gh, gw, channelsFirst);
        Assert.Equal(xs, ops.ToHost(back));
    }

    [Fact]
    public void Upsample2xRepeatsEachPixel()
    {
        using var ops = new CpuOps();
        var x = RandStrided(6, 2, 3, 5, 7);
        using var y = ops.Upsample2x(x);
        Assert.Equal(new[] { 2, 3, 10, 14 }, y.Dims);
        var xs = x.ToFloatArray();
        var ys = ops.ToHost(y);
        for (int pl = 0; pl < 6; pl++)
            for (int i = 0; i < 10; i++)
                for (int j = 0; j < 14; j++)
                    Assert.Equal(xs[(pl * 5 + i / 2) * 7 + j / 2], ys[(pl * 10 + i) * 14 + j]);
    }

    /// <summary>PyTorch's F.interpolate(mode="nearest", size=...) source indices (torch 1.13 on cpuref): a size that
    /// is not 2× (2h − 1, which SDXL's UNet asks at odd latent sizes, and others) and a shrink.</summary>
    [Theory]
    [InlineData(5, 9, new[] { 0, 0, 1, 1, 2, 2, 3, 3, 4 })]
    [InlineData(3, 5, new[] { 0, 0, 1, 1, 2 })]
    [InlineData(3, 7, new[] { 0, 0, 0, 1, 1, 2, 2 })]
    [InlineData(7, 3, new[] { 0, 2, 4 })]
    [InlineData(4, 8, new[] { 0, 0, 1, 1, 2, 2, 3, 3 })]
    public void UpsampleNearestReadsPyTorchsSourcePixels(int input, int output, int[] sources)
    {
        using var ops = new CpuOps();
        var x = RandStrided(6, 2, 3, input, 7);
        using var y = ops.UpsampleNearest(x, output, 14);
        Assert.Equal(new[] { 2, 3, output, 14 }, y.Dims);
        var xs = x.ToFloatArray();
        var ys = ops.ToHost(y);
        for (int pl = 0; pl < 6; pl++)
            for (int i = 0; i < output; i++)
                for (int j = 0; j < 14; j++)
                    Assert.Equal(xs[(pl * input + sources[i]) * 7 + j / 2], ys[(pl * output + i) * 14 + j]);
    }

    [Fact]
    public void UpsampleNearestToTwiceTheSizeIsUpsample2x()
    {
        using var ops = new CpuOps();
        var x = RandStrided(8, 2, 3, 5, 7);
        using var a = ops.UpsampleNearest(x, 10, 14);
        using var b = ops.Upsample2x(x);
        Assert.Equal(ops.ToHost(b), ops.ToHost(a));
    }

    [Fact]
    public void EmbeddingPicksRows()
    {
        using var ops = new CpuOps();
        var table = Rand(7, 10, 6);
        long[] ids = [3, 0, 9, 3];
        using var y = ops.Embedding(table, ids);
        var ts = table.ToFloatArray();
        Assert.Equal(ids.SelectMany(i => ts.Skip((int)i * 6).Take(6)).ToArray(), ops.ToHost(y));
        Assert.Throws<ArgumentOutOfRangeException>(() => ops.Embedding(table, [10]));
    }

    static Tensor HalfTensor(float[] values, DType dtype, params int[] shape)
    {
        var s = new HostStorage(values.Length * 2L);
        var t = new Tensor(s, dtype, shape);
        var span = t.Span<ushort>();
        for (int i = 0; i < values.Length; i++)
            span[i] = dtype == DType.F16 ? BitConverter.HalfToUInt16Bits((Half)values[i]) : DTypeConvert.SingleToBFloat16(values[i]);
        return t;
    }

    [Theory]
    [InlineData(DType.F16)]
    [InlineData(DType.BF16)]
    public void UploadConvertsHalfWeightsAndCastRoundTrips(DType dtype)
    {
        using var ops = new CpuOps();
        var values = Numerics.Random(35, 8, 3f);
        var host = HalfTensor(values, dtype, 5, 7);
        using var up = ops.Upload(host);
        Assert.Equal(DType.F32, up.DType);
        var expected = values.Select(v => dtype == DType.F16 ? (float)(Half)v : DTypeConvert.BFloat16ToSingle(DTypeConvert.SingleToBFloat16(v))).ToArray();
        Assert.Equal(expected, ops.ToHost(up));
        // Values already representable in the narrow type survive F32 → narrow → F32 exactly.
        using var narrow = ops.Cast(up, dtype);
        Assert.Equal(dtype, narrow.DType);
        using var wide = ops.Cast(narrow, DType.F32);
        Assert.Equal(expected, ops.ToHost(wide));
        // And arbitrary floats come back within the narrow type's rounding.
        using var x = ops.FromHost(values, 5, 7);
        using var n2 = ops.Cast(x, dtype);
        Close(values, ops.ToHost(n2), dtype == DType.F16 ? 1e-3 : 1e-2);
    }

    [Fact]
    public void UploadKeepsIntegerTensors()
    {
        using var ops = new CpuOps();
        var s = new HostStorage(4 * 8);
        var ids = new Tensor(s, DType.I64, [4]);
        long[] values = [5, -1, 1L << 40, 7];
        values.CopyTo(ids.Span<long>());
        using var up = ops.Upload(ids);
        Assert.Equal(DType.I64, up.DType);
        Assert.Equal(values, up.Span<long>().ToArray());
    }
}
