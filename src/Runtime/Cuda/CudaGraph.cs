using XDit.Runtime.Cuda.Interop;

namespace XDit.Runtime.Cuda;

/// <summary>A graph captured from a stream (<see cref="CudaStream.EndCapture"/>).</summary>
public sealed unsafe class CudaGraph : IDisposable
{
    internal CudaGraph(nint handle) => Handle = handle;

    public nint Handle { get; private set; }

    /// <summary>An executable instance that can be launched repeatedly.</summary>
    public CudaGraphExec Instantiate()
    {
        nint exec;
        Check.Cu(Driver.cuGraphInstantiateWithFlags(&exec, Handle, 0), "cuGraphInstantiateWithFlags");
        return new CudaGraphExec(exec);
    }

    public void Dispose()
    {
        if (Handle == 0) return;
        var h = Handle;
        Handle = 0;
        Check.Cu(Driver.cuGraphDestroy(h), "cuGraphDestroy");
    }
}

/// <summary>An instantiated graph (CUgraphExec).</summary>
public sealed unsafe class CudaGraphExec : IDisposable
{
    internal CudaGraphExec(nint handle) => Handle = handle;

    public nint Handle { get; private set; }

    public void Launch(CudaStream stream) => Check.Cu(Driver.cuGraphLaunch(Handle, stream.Handle), "cuGraphLaunch");

    public void Dispose()
    {
        if (Handle == 0) return;
        var h = Handle;
        Handle = 0;
        Check.Cu(Driver.cuGraphExecDestroy(h), "cuGraphExecDestroy");
    }
}
