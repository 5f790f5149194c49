using XDit.Runtime;

namespace XDit.Tests.Cuda.Emulation;

/// <summary>The emulator itself (native/emu/selftest.emu.cpp): shuffles compute the right thing, and what a GPU
/// would not run correctly (exited or split warps, misaligned ldmatrix, cp.async outside shared memory) fails the
/// launch with a message instead of hanging or passing.</summary>
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
        var mem = new EmuMemory();
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
    public void LaunchesThatCannotCompleteFailWithAMessage(string kernel, string message)
    {
        var mem = new EmuMemory();
        var e = Assert.Throws<InvalidOperationException>(() => Launch(kernel, 1, 64, 256, mem.Alloc(DType.F32, 256)));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void UnwrittenSharedMemoryReadsAsNaN()
    {
        var mem = new EmuMemory();
        var o = mem.Alloc(DType.F32, 32);
        EmuMemory.Write(o, new float[32]);
        Launch("emu_selftest_unwritten_smem", 1, 32, 128, o);
        Assert.All(EmuMemory.Read(o), v => Assert.True(float.IsNaN(v)));
    }
}
