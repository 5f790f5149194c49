using XDit.Kernels;
using XDit.Kernels.Cpu;
using XDit.Runtime;
using static XDit.Tests.Kernels.OpsTestKit;

namespace XDit.Tests.Kernels;

public class CpuArenaTests
{
    /// <summary>A small transformer-ish block: norm, QKV projection, attention over strided views, MLP, residual.</summary>
    static float[] Block(IOps ops, Tensor x, Tensor wqkv, Tensor w1, Tensor b1, Tensor w2)
    {
        int B = x.Dim(0), N = x.Dim(1), D = x.Dim(2), H = 2, d = D / H;
        using var h = ops.LayerNorm(x, null, null, 1e-6f);
        using var qkv = ops.Linear(h, wqkv);
        var view = qkv.Reshape(B, N, 3, H, d);
        var q = Pick(view, 0);
        var k = Pick(view, 1);
        var v = Pick(view, 2);
        using var lse = ops.Empty(DType.F32, B, H, N);
        using var a = ops.Attention(q, k, v, null, lse);
        using var r1 = ops.Add(x, a.Reshape(B, N, D));
        using var m1 = ops.Linear(r1, w1, b1, Activation.GeluTanh);
        using var m2 = ops.Linear(m1, w2);
        using var sm = ops.Softmax(m2);
        using var y = ops.Add(r1, sm);
        return ops.ToHost(y);
    }

    /// <summary>The [B, N, H, d] strided view of entry i of axis 2 of a [B, N, 3, H, d] tensor.</summary>
    static Tensor Pick(Tensor fused, int i)
    {
        var s = fused.Strides;
        return new Tensor(fused.Storage, fused.DType, [fused.Dim(0), fused.Dim(1), fused.Dim(3), fused.Dim(4)],
            [s[0], s[1], s[3], s[4]], fused.Offset + i * s[2]);
    }

    [Fact]
    public void RepeatedForwardStopsAllocatingAfterTheFirstPass()
    {
        using var ops = new CpuOps();
        int B = 2, N = 9, D = 16;
        using var x = ops.Upload(Rand(1, B, N, D));
        using var wqkv = ops.Upload(Rand(2, 3 * D, D));
        using var w1 = ops.Upload(Rand(3, 4 * D, D));
        using var b1 = ops.Upload(Rand(4, 4 * D));
        using var w2 = ops.Upload(Rand(5, D, 4 * D));
        long inUse = ops.Allocator.BytesInUse;
        var first = Block(ops, x, wqkv, w1, b1, w2);
        long fresh = ops.Allocator.FreshAllocations;
        Assert.True(fresh > 5);
        for (int pass = 0; pass < 2; pass++)
        {
            var again = Block(ops, x, wqkv, w1, b1, w2);
            Assert.Equal(first, again);
            Assert.Equal(fresh, ops.Allocator.FreshAllocations);
            Assert.Equal(inUse, ops.Allocator.BytesInUse);
        }
    }

    [Fact]
    public void OutputsOwnTheirStorageAndGiveItBack()
    {
        using var ops = new CpuOps();
        long before = ops.Allocator.BytesInUse;
        var y = ops.Scale(Rand(1, 4, 5), 2f);
        Assert.True(y.OwnsStorage);
        Assert.Equal(before + 80, ops.Allocator.BytesInUse);
        y.Dispose();
        Assert.Equal(before, ops.Allocator.BytesInUse);
    }
}
