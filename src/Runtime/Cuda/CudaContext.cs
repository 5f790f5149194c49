using System.Runtime.InteropServices;
using XDit.Runtime.Cuda.Interop;

namespace XDit.Runtime.Cuda;

/// <summary>
/// The device's primary context (retained on creation, released on Dispose): the context cuBLAS, cuDNN and NCCL
/// use too. The current context is per OS thread, so every public CUDA operation calls <see cref="MakeCurrent"/>
/// on entry (cheap: it skips the driver call when this thread already has it).
/// </summary>
public sealed unsafe class CudaContext : IDisposable
{
    [ThreadStatic] static nint _current;
    bool _disposed;

    public CudaContext(int device)
    {
        CudaLibraries.Require();
        Check.Cu(Driver.cuInit(0), "cuInit");
        int dev;
        Check.Cu(Driver.cuDeviceGet(&dev, device), "cuDeviceGet");
        nint ctx;
        Check.Cu(Driver.cuDevicePrimaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain");
        Device = dev;
        Handle = ctx;
        MakeCurrent();
    }

    public int Device { get; }
    public nint Handle { get; }

    public void MakeCurrent()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_current == Handle) return;
        Check.Cu(Driver.cuCtxSetCurrent(Handle), "cuCtxSetCurrent");
        _current = Handle;
    }

    public void Synchronize()
    {
        MakeCurrent();
        Check.Cu(Driver.cuCtxSynchronize(), "cuCtxSynchronize");
    }

    /// <summary>(free, total) bytes on the device.</summary>
    public (long Free, long Total) MemoryInfo()
    {
        MakeCurrent();
        nuint free, total;
        Check.Cu(Driver.cuMemGetInfo(&free, &total), "cuMemGetInfo_v2");
        return ((long)free, (long)total);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_current == Handle) _current = 0;
        Check.Cu(Driver.cuDevicePrimaryCtxRelease(Device), "cuDevicePrimaryCtxRelease_v2");
    }
}
