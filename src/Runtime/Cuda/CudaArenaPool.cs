namespace XDit.Runtime.Cuda;

/// <summary>
/// Device blocks set apart for one CUDA graph. A captured graph keeps the addresses its kernels were recorded with,
/// so the temporaries of the captured work must not be handed to anyone else while the graph can still replay:
/// while the pool is in use (<see cref="CudaArena.UsePool"/>) the arena serves allocations from the pool's own free
/// lists, and blocks allocated in it return there whenever they are released. Disposing the pool (with the graph)
/// gives its blocks to the arena's common cache; one still in use joins it when released.
/// </summary>
public sealed class CudaArenaPool : IDisposable
{
    readonly CudaArena _arena;

    internal CudaArenaPool(CudaArena arena) => _arena = arena;

    internal Dictionary<long, Stack<ulong>> Free { get; } = new();
    internal bool Disposed { get; set; }

    /// <summary>Bytes of the blocks waiting in the pool's free lists.</summary>
    public long CachedBytes => _arena.PoolCachedBytes(this);

    public void Dispose() => _arena.DisposePool(this);
}
