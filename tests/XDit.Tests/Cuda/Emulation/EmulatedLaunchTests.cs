using XDit.Kernels.Cuda;
using XDit.Runtime;
using XDit.Runtime.Cuda;
using XDit.Runtime.Cuda.Interop;

namespace XDit.Tests.Cuda.Emulation;

/// <summary>
/// The stand-in driver's check of kernelParams (native/emu/fake_driver.cpp): KernelLibrary.Launch passes them
/// null-terminated, and a launch whose null is not at the kernel's parameter count is refused with
/// CUDA_ERROR_INVALID_VALUE and a message naming the kernel, what it takes and what it got. This goes around
/// KernelEntry's own check, straight to cuLaunchKernel, as a host bug past that check would.
/// </summary>
[Collection("cuda")]
[NeedsCudaDevice]
public class EmulatedLaunchTests
{
    const int CudaErrorInvalidValue = 1;

    [Fact]
    public unsafe void ALaunchWithTheWrongArgumentCountIsRefused()
    {
        EmulatedCuda.Require();
        var gpu = CudaTestDevice.Get(DType.F32);
        using var lse1 = gpu.Zeros(DType.F32, 64);
        using var lse2 = gpu.Zeros(DType.F32, 64);
        ulong p1 = ((CudaStorage)lse1.Storage).Pointer, p2 = ((CudaStorage)lse2.Storage).Pointer;
        long n = 64, extra = 0;
        nint f = gpu.Kernels.Function(CudaKernels.MergeLse);   // merge_lse(float*, const float*, i64)

        void** few = stackalloc void*[] { &p1, &p2, null };
        Assert.Equal(CudaErrorInvalidValue, Driver.cuLaunchKernel(f, 1, 1, 1, 64, 1, 1, 0, gpu.Stream.Handle, few, null));
        Assert.Equal("cuLaunchKernel(merge_lse): the kernel takes 3 parameters, kernelParams holds 2 before its terminating null",
            KernelEmulator.Get().LastError);

        void** many = stackalloc void*[] { &p1, &p2, &n, &extra, null };
        Assert.Equal(CudaErrorInvalidValue, Driver.cuLaunchKernel(f, 1, 1, 1, 64, 1, 1, 0, gpu.Stream.Handle, many, null));
        Assert.Contains("takes 3 parameters, kernelParams holds 4", KernelEmulator.Get().LastError);

        void** right = stackalloc void*[] { &p1, &p2, &n, null };
        Assert.Equal(0, Driver.cuLaunchKernel(f, 1, 1, 1, 64, 1, 1, 0, gpu.Stream.Handle, right, null));
        gpu.Synchronize();
    }
}
