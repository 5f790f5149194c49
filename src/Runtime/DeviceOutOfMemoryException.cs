namespace XDit.Runtime;

/// <summary>
/// A device allocation failed for lack of memory. It lives here rather than beside the CUDA bindings so that the
/// layers above (model loading, pipelines) can say what they were doing when it happened without knowing the
/// backend: <see cref="While"/> puts that in front of the message and keeps the numbers.
/// </summary>
public sealed class DeviceOutOfMemoryException : Exception
{
    public DeviceOutOfMemoryException(string device, long requestedBytes, long freeBytes, long totalBytes, long heldBytes, Exception? inner = null)
        : this(null, device, requestedBytes, freeBytes, totalBytes, heldBytes, inner) { }

    DeviceOutOfMemoryException(string? doing, string device, long requested, long free, long total, long held, Exception? inner)
        : base((doing is null ? "" : doing + ": ") +
               $"out of memory on {device}: {ByteSize.Format(requested)} requested, {ByteSize.Format(free)} free of " +
               $"{ByteSize.Format(total)}, and XDit's tensors hold {ByteSize.Format(held)} of it", inner)
    {
        Device = device;
        RequestedBytes = requested;
        FreeBytes = free;
        TotalBytes = total;
        HeldBytes = held;
    }

    public string Device { get; }
    public long RequestedBytes { get; }
    public long FreeBytes { get; }
    public long TotalBytes { get; }
    /// <summary>Device memory the tensor allocator held when the request failed (in use and cached; fixed buffers such
    /// as the GEMM workspace are not counted).</summary>
    public long HeldBytes { get; }

    /// <summary>The same failure, with what the caller was doing in front (e.g. the file and tensor it was loading).</summary>
    public DeviceOutOfMemoryException While(string doing) => new(doing, Device, RequestedBytes, FreeBytes, TotalBytes, HeldBytes, this);
}
