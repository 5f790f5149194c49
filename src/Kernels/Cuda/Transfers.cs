using XDit.Runtime.Cuda;
using XDit.Runtime.Cuda.Interop;

namespace XDit.Kernels.Cuda;

/// <summary>
/// Host ↔ device copies through two pinned staging buffers. Uploads are double-buffered: the host fills one
/// buffer while the DMA engine drains the other (an event per buffer says when it may be refilled). Downloads copy
/// chunk by chunk and wait for each.
/// </summary>
public sealed unsafe class Transfers : IDisposable
{
    const long Chunk = 16L << 20;
    readonly CudaStream _stream;
    readonly PinnedHostBuffer[] _buffers = new PinnedHostBuffer[2];
    readonly CudaEvent[] _done = new CudaEvent[2];
    readonly bool[] _pending = new bool[2];
    int _next;

    public Transfers(CudaStream stream)
    {
        _stream = stream;
        for (int i = 0; i < 2; i++) { _buffers[i] = new PinnedHostBuffer(Chunk); _done[i] = new CudaEvent(); }
    }

    public void Upload(ulong dst, ReadOnlySpan<byte> src)
    {
        long off = 0;
        while (off < src.Length)
        {
            int i = _next;
            _next ^= 1;
            if (_pending[i]) _done[i].Synchronize();
            int n = (int)Math.Min(Chunk, src.Length - off);
            src.Slice((int)off, n).CopyTo(new Span<byte>(_buffers[i].Pointer, n));
            Check.Cu(Driver.cuMemcpyHtoDAsync(dst + (ulong)off, _buffers[i].Pointer, (nuint)n, _stream.Handle), "cuMemcpyHtoDAsync_v2");
            _done[i].Record(_stream);
            _pending[i] = true;
            off += n;
        }
    }

    public void Download(Span<byte> dst, ulong src)
    {
        long off = 0;
        while (off < dst.Length)
        {
            int n = (int)Math.Min(Chunk, dst.Length - off);
            Check.Cu(Driver.cuMemcpyDtoHAsync(_buffers[0].Pointer, src + (ulong)off, (nuint)n, _stream.Handle), "cuMemcpyDtoHAsync_v2");
            _stream.Synchronize();
            new ReadOnlySpan<byte>(_buffers[0].Pointer, n).CopyTo(dst.Slice((int)off, n));
            off += n;
        }
        _pending[0] = false;   // the stream is idle, so the upload event of buffer 0 has completed
    }

    public void Dispose()
    {
        for (int i = 0; i < 2; i++) { _done[i].Dispose(); _buffers[i].Dispose(); }
    }
}
