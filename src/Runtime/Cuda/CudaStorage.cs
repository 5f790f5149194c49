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
    /// <summary>The graph pool the block belongs to, or null for the arena's common cache.</summary>
    internal CudaArenaPool? Pool { get; init; }
}
