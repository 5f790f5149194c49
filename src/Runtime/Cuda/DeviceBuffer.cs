using XDit.Runtime.Cuda.Interop;

namespace XDit.Runtime.Cuda;

/// <summary>Device memory from cuMemAlloc_v2, freed on Dispose (the caller keeps the context current).</summary>
public sealed unsafe class DeviceBuffer : IDisposable
{
    public DeviceBuffer(long bytes)
    {
        ulong p = 0;
        if (bytes > 0) Check.Cu(Driver.cuMemAlloc(&p, (nuint)bytes), "cuMemAlloc_v2");
        Pointer = p;
        ByteLength = bytes;
    }

    public ulong Pointer { get; private set; }
    public long ByteLength { get; }

    public void Dispose()
    {
        if (Pointer == 0) return;
        var p = Pointer;
        Pointer = 0;
        Check.Cu(Driver.cuMemFree(p), "cuMemFree_v2");
    }
}
