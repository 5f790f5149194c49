using XDit.Runtime.Cuda.Interop;

namespace XDit.Runtime.Cuda;

/// <summary>A non-blocking stream (does not synchronise with the legacy default stream).</summary>
public sealed unsafe class CudaStream : IDisposable
{
    public CudaStream()
    {
        nint s;
        Check.Cu(Driver.cuStreamCreate(&s, CuFlags.StreamNonBlocking), "cuStreamCreate");
        Handle = s;
    }

    public nint Handle { get; private set; }

    public void Synchronize() => Check.Cu(Driver.cuStreamSynchronize(Handle), "cuStreamSynchronize");

    public void Wait(CudaEvent e) => Check.Cu(Driver.cuStreamWaitEvent(Handle, e.Handle, 0), "cuStreamWaitEvent");

    /// <summary>Starts capturing this stream's work into a graph. Thread-local mode: other threads (in-process
    /// ranks) may keep allocating and synchronising while one rank captures.</summary>
    public void BeginCapture() => Check.Cu(Driver.cuStreamBeginCapture(Handle, CuFlags.CaptureModeThreadLocal), "cuStreamBeginCapture_v2");

    /// <summary>Ends the capture and returns the captured graph.</summary>
    public CudaGraph EndCapture()
    {
        nint g;
        Check.Cu(Driver.cuStreamEndCapture(Handle, &g), "cuStreamEndCapture");
        return new CudaGraph(g);
    }

    public bool IsCapturing
    {
        get
        {
            int status;
            Check.Cu(Driver.cuStreamIsCapturing(Handle, &status), "cuStreamIsCapturing");
            return status != 0;
        }
    }

    public void Dispose()
    {
        if (Handle == 0) return;
        var h = Handle;
        Handle = 0;
        Check.Cu(Driver.cuStreamDestroy(h), "cuStreamDestroy_v2");
    }
}
