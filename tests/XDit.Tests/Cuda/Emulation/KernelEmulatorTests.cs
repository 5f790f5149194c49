using XDit.Runtime;

namespace XDit.Tests.Cuda.Emulation;

/// <summary>The emulator itself (native/emu/selftest.emu.cpp): shuffles compute the right thing, and what a GPU
/// would not run correctly (exited or split warps, misaligned ldmatrix, cp.async outside shared memory, a read or
/// write past the end of a buffer) fails the launch with a message instead of hanging or passing; a cp.async that
/// nobody waited for, and shared memory read across warps or lanes with no barrier between, read as NaN.</summary>
public class KernelEmulatorTests
{
    static unsafe void Launch(string kernel, uint grid, uint block, uint smem, params Tensor[] buffers)
    {
        var ptrs = buffers.Select(b => EmuMemory.Pointer(b, "buffer")).ToArray();
        fixed (ulong* p = ptrs)
        {
            var args = stackalloc void*[ptrs.Length];
            for (int i = 0; i < ptrs.Length; i++) args[i] = p + i;
            KernelEmulator.Get().Launch(kernel, grid, 1, block, smem, args);
        }
    }

    [Fact]
    public void WarpShufflesReduceEachWarp()
    {
        using var mem = new EmuMemory();
        var x = Enumerable.Range(0, 128).Select(i => (float)i).ToArray();
        var input = mem.Upload(x, DType.F32, 128);
        var sums = mem.Alloc(DType.F32, 4);
        Launch("emu_selftest_warp_sum", 2, 64, 0, input, sums);
        mem.AssertGuardsIntact();
        Assert.Equal(Enumerable.Range(0, 4).Select(w => x.Skip(32 * w).Take(32).Sum()).ToArray(), EmuMemory.Read(sums));
    }

    [Theory]
    [InlineData("emu_selftest_exited_lanes", "with 16 live lanes of 32")]
    [InlineData("emu_selftest_split_warp", "deadlock")]
    [InlineData("no_such_kernel", "no kernel named no_such_kernel")]
    [InlineData("emu_selftest_ldmatrix_misaligned", "ldmatrix: lane 0's row address is not 16-byte aligned")]
    [InlineData("emu_selftest_cp_async_to_global", "cp.async: the destination is outside the dynamic shared memory")]
    [InlineData("emu_selftest_read_past_end", "an access at byte 1280 of a 1280-byte device allocation at 0x")]
    [InlineData("emu_selftest_write_past_end", "past its end (thread 63 of block (0, 0, 0))")]
    public void LaunchesThatCannotCompleteFailWithAMessage(string kernel, string message)
    {
        using var mem = new EmuMemory();
        var e = Assert.Throws<InvalidOperationException>(() => Launch(kernel, 1, 64, 256, mem.Alloc(DType.F32, 256)));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void AsyncCopiesLandOnlyWhenTheirGroupIsWaitedFor()
    {
        using var mem = new EmuMemory();
        var x = Enumerable.Range(0, 256).Select(i => (float)i).ToArray();
        var input = mem.Upload(x, DType.F32, 256);
        var o = mem.Alloc(DType.F32, 512);
        Launch("emu_selftest_cp_async_groups", 1, 32, 1024, input, o);
        mem.AssertGuardsIntact();
        var r = EmuMemory.Read(o);
        // after wait_group 1 the older group is there and the newer one still reads NaN; after wait_group 0, all
        Assert.Equal(x[..128], r[..128]);
        Assert.All(r[128..256], v => Assert.True(float.IsNaN(v)));
        Assert.Equal(x, r[256..]);
    }

    [Fact]
    public void AMissingBarrierBetweenWarpsReadsNaN()
    {
        // warps run one after the other between barriers, warp 0 first in block 0 and warp 1 first in block 1, so
        // the warp that runs first reads the other's slots before they are written
        using var mem = new EmuMemory();
        var o = mem.Alloc(DType.F32, 128);
        Launch("emu_selftest_missing_barrier", 2, 64, 256, o);
        var r = EmuMemory.Read(o);
        Assert.All(r[..32], v => Assert.True(float.IsNaN(v)));
        Assert.Equal(Enumerable.Range(0, 32).Select(i => (float)i).ToArray(), r[32..64]);
        Assert.Equal(Enumerable.Range(32, 32).Select(i => (float)i).ToArray(), r[64..96]);
        Assert.All(r[96..], v => Assert.True(float.IsNaN(v)));
    }

    [Fact]
    public void ARaceInsideAWarpReadsNaNOnOneSideOfEachPair()
    {
        // lanes run one after the other, ascending in warp 0 and descending in warp 1: the first lane of each pair
        // reads its neighbour's slot before the neighbour writes it
        using var mem = new EmuMemory();
        var o = mem.Alloc(DType.F32, 64);
        Launch("emu_selftest_warp_race", 1, 64, 256, o);
        var r = EmuMemory.Read(o);
        for (int i = 0; i < 64; i++)
        {
            bool first = i < 32 ? i % 2 == 0 : i % 2 == 1;
            if (first) Assert.True(float.IsNaN(r[i]), $"lane {i} read {r[i]}");
            else Assert.Equal(i ^ 1, r[i]);
        }
    }

    [Fact]
    public void UnwrittenSharedMemoryReadsAsNaN()
    {
        using var mem = new EmuMemory();
        var o = mem.Alloc(DType.F32, 32);
        EmuMemory.Write(o, new float[32]);
        Launch("emu_selftest_unwritten_smem", 1, 32, 128, o);
        Assert.All(EmuMemory.Read(o), v => Assert.True(float.IsNaN(v)));
    }
}
