using XDit.Runtime.Cuda.Interop;

namespace XDit.Runtime.Cuda;

/// <summary>A CUDA event; with <c>timing</c> it can measure elapsed time between two records.</summary>
public sealed unsafe class CudaEvent : IDisposable
{
    public CudaEvent(bool timing = false)
    {
        nint e;
        Check.Cu(Driver.cuEventCreate(&e, timing ? CuFlags.EventDefault : CuFlags.EventDisableTiming), "cuEventCreate");
        Handle = e;
    }

    public nint Handle { get; private set; }

    public void Record(CudaStream stream) => Check.Cu(Driver.cuEventRecord(Handle, stream.Handle), "cuEventRecord");

    public void Synchronize() => Check.Cu(Driver.cuEventSynchronize(Handle), "cuEventSynchronize");

    /// <summary>Milliseconds from <paramref name="start"/> to this event (both recorded, this one completed).</summary>
    public float ElapsedSince(CudaEvent start)
    {
        float ms;
        Check.Cu(Driver.cuEventElapsedTime(&ms, start.Handle, Handle), "cuEventElapsedTime_v2");
        return ms;
    }

    public void Dispose()
    {
        if (Handle == 0) return;
        var h = Handle;
        Handle = 0;
        Check.Cu(Driver.cuEventDestroy(h), "cuEventDestroy_v2");
    }
}
