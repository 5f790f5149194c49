using XDit.Engine.Bench;
using XDit.Kernels.Cpu;
using XDit.Kernels.Ledger;
using XDit.Runtime;

namespace XDit.Tests.Bench;

/// <summary>The ledger's bytes, FLOPs and roofline on ops whose numbers are known by hand (on CpuOps: no device, no
/// launches).</summary>
public class LedgerArithmeticTests
{
    [Fact]
    public void FormulasCountMultiplyAddsTwiceAndOnlyTheVisiblePairs()
    {
        Assert.Equal(2.0 * 3 * 5 * 7, LedgerMath.Gemm(3, 5, 7));
        Assert.Equal(2.0 * 4 * 3 * 5 * 7, LedgerMath.Gemm(3, 5, 7, batch: 4));
        Assert.Equal(4.0 * 2 * 3 * 5 * 7 * 11, LedgerMath.Attention(2, 3, 5, 7, 11));
        Assert.Equal(10, LedgerMath.VisiblePairs(4, 4, causal: true, window: null));      // 1 + 2 + 3 + 4
        Assert.Equal(13, LedgerMath.VisiblePairs(5, 5, causal: false, window: 1));        // 2 + 3 + 3 + 3 + 2
        Assert.Equal(2.0 * 2 * 8 * 3 * 3 * 4 * 3 * 3, LedgerMath.Conv2d(2, 8, 3, 3, 4, 3, 3));
    }

    [Fact]
    public void AGemmAndAnAttentionRecordTheirViewsBytesAndTheirFlops()
    {
        using var cpu = new CpuOps();
        var ledger = new LaunchLedger();
        using var ops = new LedgerOps(cpu, ledger);
        using var x = cpu.FromHost(new float[2 * 3 * 8], 2, 3, 8);
        using var w = cpu.FromHost(new float[16 * 8], 16, 8);
        using var bias = cpu.FromHost(new float[16], 16);
        using (ledger.Scope("block 0")) ops.Linear(x, w, bias).Dispose();
        var gemm = Assert.Single(ledger.Entries);
        Assert.Equal(("linear", "block 0", 0L), (gemm.Kind, gemm.Scope, gemm.Launches));
        Assert.Equal((48 + 128 + 16) * 4, gemm.BytesRead);
        Assert.Equal(2 * 3 * 16 * 4, gemm.BytesWritten);
        Assert.Equal(2.0 * 6 * 16 * 8, gemm.Flops);

        // a strided view counts its own elements: q, k, v as slices of one packed tensor
        using var qkv = cpu.FromHost(new float[2 * 7 * 3 * 3 * 4], 2, 7, 3 * 3, 4);
        var q = qkv.Slice(1, 0, 5).Slice(2, 0, 3);
        var k = qkv.Slice(2, 3, 3);
        var v = qkv.Slice(2, 6, 3);
        ops.Attention(q, k, v).Dispose();
        var attention = ledger.Entries[^1];
        Assert.Equal(("attention", ""), (attention.Kind, attention.Scope));   // the scope ended with its using
        Assert.Equal((2 * 5 * 3 * 4 + 2 * 2 * 7 * 3 * 4) * 4, attention.BytesRead);
        Assert.Equal(2 * 5 * 3 * 4 * 4, attention.BytesWritten);
        Assert.Equal(4.0 * 2 * 3 * 5 * 7 * 4, attention.Flops);
    }

    [Fact]
    public void TheRooflineIsTheSlowerOfTrafficAndMath()
    {
        var traffic = new LedgerEntry("add", "", 1, 2_000_000_000, 1_350_000_000, 0, DType.BF16);
        Assert.Equal(1.0, GpuSpec.H100.RooflineMs(traffic), 9);                  // 3.35 GB at 3.35 TB/s
        Assert.Equal(3.35 / 4.8, GpuSpec.H200.RooflineMs(traffic), 9);
        var math = new LedgerEntry("linear", "", 1, 3_350_000_000, 0, 2 * 989e9, DType.BF16);
        Assert.Equal(2.0, GpuSpec.H100.RooflineMs(math), 9);                     // 1.978 PFLOP at 989 TFLOP/s beats 1 ms of bytes
        Assert.Equal(2 * 989.0 / 67, GpuSpec.H100.RooflineMs(new LedgerEntry("linear", "", 1, 0, 0, 2 * 989e9, DType.F32)), 9);
        Assert.Equal(0, GpuSpec.H100.RooflineMs(new LedgerEntry("to_host", "", 0, 1_000_000_000, 0, 0, DType.F32)));
    }

    [Fact]
    public void LikeBlocksFoldIntoOneLineAndOthersStayApart()
    {
        using var cpu = new CpuOps();
        var ledger = new LaunchLedger();
        using var ops = new LedgerOps(cpu, ledger);
        using var x = cpu.FromHost(new float[12], 3, 4);
        foreach (var (block, adds) in new[] { ("block 0", 1), ("block 1", 1), ("block 2", 1), ("block 3", 2) })
            using (ledger.Scope(block))
                for (int i = 0; i < adds; i++) ops.Add(x, x).Dispose();
        var report = LedgerReport.From(ledger, "test", "cpu", GpuSpec.H100, null, 0);
        Assert.Equal(["block 0-2 (each of 3)", "block 3"], report.FoldedBlocks().Select(r => r.Name));
        Assert.Equal(5, report.Total.Calls);
        Assert.Equal(5 * 3 * 4 * 4 * 3, report.ElementwiseBytes);   // two reads and one write of 48 bytes per add
    }
}
