using System.Runtime.InteropServices;
using XDit.Kernels.Cuda;
using XDit.Runtime;
using XDit.Runtime.Cuda;

namespace XDit.Tests.Cuda.Emulation;

/// <summary>
/// The emulator's no-exec mode (native/emu/no_exec.cpp), what the launch ledger of a real-size model runs on: work
/// is queued and counted but not run, and fresh device memory is not committed. The mode is the calling thread's,
/// and each test puts it back.
/// </summary>
[NeedsCudaDevice]
[Collection("cuda")]
public unsafe class EmulatedNoExecTests
{
    [Fact]
    public void KernelsGemmsAndDeviceCopiesLeaveTheirResultsUntouched()
    {
        EmulatedCuda.Require();
        using var gpu = new CudaOps(0, DType.F32);
        using var x = gpu.FromHost([1f, 2f, 3f, 4f], 1, 4);
        using var w = gpu.FromHost([1f, 1f, 1f, 1f, 2f, 2f, 2f, 2f], 2, 4);
        long before = gpu.Launches.Total;
        Assert.Equal(false, EmulatorNoExec.Set(1));
        Tensor scaled, product;
        try
        {
            scaled = gpu.Scale(x, 2f, 1f);      // a kernel
            product = gpu.Linear(x, w);         // a cuBLASLt GEMM
            gpu.Copy(x, scaled);                // a device-to-device copy
        }
        finally { EmulatorNoExec.Set(-1); }
        using (scaled)
        using (product)
        {
            Assert.Equal(3, gpu.Launches.Total - before);   // counted as launched
            // fresh blocks stay unfilled (zeros, not the 0xFF NaN of an executing emulator), and x keeps its values
            Assert.Equal(new float[4], gpu.ToHost(scaled));
            Assert.Equal(new float[2], gpu.ToHost(product));
            Assert.Equal([1f, 2f, 3f, 4f], gpu.ToHost(x));
            // executing again: the same ops compute
            using var again = gpu.Linear(x, w);
            Assert.Equal([10f, 20f], gpu.ToHost(again));
        }
    }

    [Fact]
    public void ABigAllocationCommitsNoMemory()
    {
        EmulatedCuda.Require();
        using var gpu = new CudaOps(0, DType.F32);
        // executing, a fresh block is filled with 0xFF: every page resident (what shows the count below can see pages)
        using (var small = gpu.Empty(DType.F32, 1 << 18)) Assert.Equal(1L << 20, ResidentBytes(small));
        EmulatorNoExec.Set(1);
        try
        {
            using var big = gpu.Empty(DType.F32, 1 << 28);   // 1 GiB, reserved only
            Assert.Equal(0, ResidentBytes(big));
        }
        finally { EmulatorNoExec.Set(-1); }
    }

    [DllImport("libc", SetLastError = true)]
    static extern int mincore(nint addr, nuint length, byte* vec);

    /// <summary>Bytes of the tensor's pages that are in memory (mincore), page by page.</summary>
    static long ResidentBytes(Tensor t)
    {
        long page = Environment.SystemPageSize;
        ulong p = ((CudaStorage)t.Storage).Pointer;
        ulong start = p / (ulong)page * (ulong)page;
        long length = (long)(p - start) + t.ByteCount;
        long pages = (length + page - 1) / page;
        var vec = new byte[pages];
        fixed (byte* v = vec)
            Assert.True(mincore((nint)start, (nuint)length, v) == 0, $"mincore: errno {Marshal.GetLastPInvokeError()}");
        return vec.Count(b => (b & 1) != 0) * page;
    }
}
