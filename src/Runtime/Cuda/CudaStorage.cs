namespace XDit.Runtime.Cuda;

/// <summary>Device memory behind a tensor: a device pointer from a <see cref="CudaArena"/>.</summary>
public sealed class CudaStorage : Storage
{
    internal CudaStorage(ulong pointer, long byteLength, long blockBytes) : base(byteLength)
    {
        Pointer = pointer;
        BlockBytes = blockBytes;
    }

    public ulong Pointer { get; }
    /// <summary>The size of the arena block (the request rounded up).</summary>
    public long BlockBytes { get; }
}
