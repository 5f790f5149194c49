using XDit.Kernels.Cuda;
using XDit.Runtime;
using XDit.Runtime.Cuda;

namespace XDit.Tests.Cuda.Emulation;

/// <summary>
/// In the emulator pass the arena gives every tensor a block of its own size (XDIT_CUDA_ARENA_EXACT=1, set by
/// <see cref="EmulatedCuda"/>) and the stand-in driver puts a guard page right after each allocation, so a kernel
/// launched through the real host code that reads past a tensor's end fails with CUDA_ERROR_ILLEGAL_ADDRESS, as on a
/// GPU, and the emulator says which allocation and which thread.
/// </summary>
[NeedsCudaDevice]
[Collection("cuda")]
public class EmulatedGuardPageTests
{
    [Fact]
    public void EachArenaBlockEndsWithinSixteenBytesOfItsTensor()
    {
        EmulatedCuda.Require();
        using var gpu = new CudaOps(0, DType.BF16);
        Assert.True(gpu.Arena.ExactSizes);
        using var t = gpu.Empty(DType.BF16, 7, 11);   // 154 bytes
        Assert.Equal(160, ((CudaStorage)t.Storage).BlockBytes);
    }

    [Fact]
    public unsafe void AKernelReadingPastATensorFailsWithAnIllegalAddress()
    {
        EmulatedCuda.Require();
        using var gpu = new CudaOps(0, DType.F32);
        using var t = gpu.Empty(DType.F32, 256);
        ulong p = ((CudaStorage)t.Storage).Pointer;
        // any module serves: the stand-in resolves every kernel registered with the emulator (native/emu/selftest.emu.cpp)
        var kernel = new KernelEntry("copy", "emu_selftest_read_past_end", KernelParam.Pointer);
        CudaException? e = null;
        var line = KernelEmulator.Get().ExpectLaunchFailure(() =>
            e = Assert.Throws<CudaException>(() => gpu.Kernels.Launch(new KernelLaunch(kernel, 1, 1, 64, 0), gpu.Stream.Handle, [p])));
        Assert.Contains("CUDA_ERROR_ILLEGAL_ADDRESS", e!.Message);
        // the stand-in names the kernel, the allocation and the thread (kept, not printed: this failure is intended)
        Assert.StartsWith("emu_selftest_read_past_end: an access at byte 1024 of a 1024-byte device allocation at 0x", line);
        Assert.EndsWith("past its end (thread 63 of block (0, 0, 0))", line);
    }
}
