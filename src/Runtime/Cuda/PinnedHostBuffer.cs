using XDit.Runtime.Cuda.Interop;

namespace XDit.Runtime.Cuda;

/// <summary>Page-locked host memory (cuMemHostAlloc): the DMA engines copy from it directly, so uploads and
/// downloads go through it rather than from pageable or memory-mapped memory.</summary>
public sealed unsafe class PinnedHostBuffer : IDisposable
{
    public PinnedHostBuffer(long bytes)
    {
        void* p;
        Check.Cu(Driver.cuMemHostAlloc(&p, (nuint)Math.Max(bytes, 1), CuFlags.MemHostAllocPortable), "cuMemHostAlloc");
        Pointer = p;
        ByteLength = bytes;
    }

    public void* Pointer { get; private set; }
    public long ByteLength { get; }

    public Span<byte> Span => new(Pointer, checked((int)ByteLength));

    public void Dispose()
    {
        if (Pointer == null) return;
        var p = Pointer;
        Pointer = null;
        Check.Cu(Driver.cuMemFreeHost(p), "cuMemFreeHost");
    }
}
