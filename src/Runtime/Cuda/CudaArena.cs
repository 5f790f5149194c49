using XDit.Runtime.Cuda.Interop;

namespace XDit.Runtime.Cuda;

/// <summary>
/// Caching allocator for device memory. Requests are rounded up (512 B below 1 MiB, 1 MiB above) and freed
/// blocks wait in per-size free lists, so after the first denoising step no op calls cuMemAlloc. Reuse is safe
/// without events because every op of one backend runs on one stream: a block freed after work was queued on it
/// is only touched again by work queued later on the same stream. A failed cuMemAlloc empties the cache and
/// retries once before it throws (<see cref="DeviceOutOfMemoryException"/> when memory ran out).
/// With XDIT_CUDA_ARENA_EXACT=1 requests are rounded to 16 bytes only, so each block ends where its tensor does and a
/// kernel reading past a tensor's end leaves the allocation: compute-sanitizer's memcheck (and the CPU emulator's
/// guard pages) then catch what the rounding would have hidden in a block's slack.
/// </summary>
public sealed unsafe class CudaArena : IAllocator, IDisposable
{
    const int CudaErrorOutOfMemory = 2;   // CUresult

    readonly CudaContext _ctx;
    readonly Dictionary<long, Stack<ulong>> _free = new();
    readonly object _lock = new();
    long _fresh, _inUse, _peak, _reserved;
    bool _disposed;
    CudaArenaPool? _pool;        // where allocations come from now (null: the common cache)
    bool _poolAllowsFresh = true;

    /// <summary>The variable that asks for <see cref="ExactSizes"/>.</summary>
    public const string ExactSizesVariable = "XDIT_CUDA_ARENA_EXACT";

    public CudaArena(CudaContext ctx) : this(ctx, Environment.GetEnvironmentVariable(ExactSizesVariable) == "1") { }

    public CudaArena(CudaContext ctx, bool exactSizes)
    {
        _ctx = ctx;
        ExactSizes = exactSizes;
    }

    /// <summary>Blocks are the request rounded to 16 bytes, not to the cache's size classes (for finding
    /// out-of-bounds accesses; more cuMemAlloc calls, less reuse).</summary>
    public bool ExactSizes { get; }

    public long FreshAllocations { get { lock (_lock) return _fresh; } }
    public long BytesInUse { get { lock (_lock) return _inUse; } }
    public long PeakBytesInUse { get { lock (_lock) return _peak; } }
    /// <summary>The device's total memory.</summary>
    public long CapacityBytes => _capacity ??= _ctx.MemoryInfo().Total;
    long? _capacity;
    public void ResetPeak() { lock (_lock) _peak = _inUse; }
    /// <summary>Bytes held from the driver (in use plus cached).</summary>
    public long BytesReserved { get { lock (_lock) return _reserved; } }

    public static long RoundUp(long bytes)
    {
        const long small = 512, large = 1 << 20;
        if (bytes <= 0) return small;
        return bytes < large ? (bytes + small - 1) / small * small : (bytes + large - 1) / large * large;
    }

    public Storage Allocate(long byteLength)
    {
        if (byteLength < 0) throw new ArgumentOutOfRangeException(nameof(byteLength));
        long block = ExactSizes ? Math.Max(16, (byteLength + 15) / 16 * 16) : RoundUp(byteLength);
        CudaArenaPool? pool;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            pool = _pool;
            var free = pool is null ? _free : pool.Free;
            if (free.TryGetValue(block, out var stack) && stack.Count > 0)
            {
                _inUse += block;
                _peak = Math.Max(_peak, _inUse);
                return new CudaStorage(stack.Pop(), byteLength, block) { Owner = this, Pool = pool };
            }
            if (pool is not null && !_poolAllowsFresh)
                throw new GraphCaptureException(
                    $"the graph pool has no cached block of {block} bytes (a capture may not call cuMemAlloc): the captured work allocated differently from its warm-up run");
            _inUse += block;
            _peak = Math.Max(_peak, _inUse);
        }
        _ctx.MakeCurrent();
        ulong p;
        int r = Driver.cuMemAlloc(&p, (nuint)block);
        if (r == CudaErrorOutOfMemory)
        {
            Trim();
            r = Driver.cuMemAlloc(&p, (nuint)block);
        }
        if (r != 0)
        {
            lock (_lock) _inUse -= block;
            var failure = new CudaException("cuMemAlloc_v2", r, Check.CuName(r), $"{block} bytes; arena holds {BytesReserved} bytes, {BytesInUse} in use");
            if (r == CudaErrorOutOfMemory) throw OutOfMemory(block, failure);
            throw failure;
        }
        lock (_lock) { _fresh++; _reserved += block; }
        return new CudaStorage(p, byteLength, block) { Owner = this, Pool = pool };
    }

    DeviceOutOfMemoryException OutOfMemory(long requested, CudaException failure)
    {
        var device = $"cuda:{_ctx.Device}";
        long free = 0, total = 0;
        try
        {
            device += $" ({CudaDevice.Query(_ctx.Device).Name})";
            (free, total) = _ctx.MemoryInfo();
        }
        catch (CudaException) { }   // the numbers are for the message; the failure is what counts
        return new DeviceOutOfMemoryException(device, requested, free, total, BytesReserved, failure);
    }

    public void Release(Storage storage)
    {
        if (storage is not CudaStorage cs || !ReferenceEquals(storage.Owner, this))
            throw new ArgumentException("storage was not allocated by this arena", nameof(storage));
        lock (_lock)
        {
            _inUse -= cs.BlockBytes;
            if (_disposed) return;
            Push(cs.Pool is { Disposed: false } pool ? pool.Free : _free, cs.BlockBytes, cs.Pointer);
        }
    }

    static void Push(Dictionary<long, Stack<ulong>> free, long size, ulong ptr)
    {
        if (!free.TryGetValue(size, out var stack)) free[size] = stack = new Stack<ulong>();
        stack.Push(ptr);
    }

    /// <summary>A pool of blocks kept apart for one CUDA graph (see <see cref="CudaArenaPool"/>).</summary>
    public CudaArenaPool NewPool() => new(this);

    /// <summary>Serves allocations from <paramref name="pool"/> until the returned scope is disposed. With
    /// <paramref name="allowFresh"/> false (while capturing) an allocation the pool has no cached block for throws
    /// instead of calling cuMemAlloc, which would invalidate the capture.</summary>
    public PoolScope UsePool(CudaArenaPool pool, bool allowFresh = true)
    {
        lock (_lock)
        {
            if (pool.Disposed) throw new ObjectDisposedException(nameof(CudaArenaPool));
            if (_pool is not null) throw new InvalidOperationException("a graph pool is already in use on this arena");
            _pool = pool;
            _poolAllowsFresh = allowFresh;
        }
        return new PoolScope(this);
    }

    /// <summary>Ends <see cref="UsePool"/>: allocations come from the common cache again.</summary>
    public readonly struct PoolScope(CudaArena arena) : IDisposable
    {
        public void Dispose()
        {
            lock (arena._lock)
            {
                arena._pool = null;
                arena._poolAllowsFresh = true;
            }
        }
    }

    internal long PoolCachedBytes(CudaArenaPool pool)
    {
        lock (_lock) return pool.Free.Sum(kv => kv.Key * kv.Value.Count);
    }

    internal void DisposePool(CudaArenaPool pool)
    {
        lock (_lock)
        {
            if (pool.Disposed) return;
            if (ReferenceEquals(_pool, pool)) throw new InvalidOperationException("the graph pool is still in use");
            pool.Disposed = true;
            // the graph that used these blocks is gone, and any replay still queued runs before later work on the
            // stream: they are ordinary cached blocks now
            if (!_disposed)
                foreach (var (size, stack) in pool.Free)
                    foreach (var ptr in stack) Push(_free, size, ptr);
            pool.Free.Clear();
        }
    }

    /// <summary>Gives every cached block back to the driver (waits for queued work first).</summary>
    public void Trim()
    {
        List<(long Size, ulong Ptr)> blocks;
        lock (_lock)
        {
            blocks = _free.SelectMany(kv => kv.Value.Select(p => (kv.Key, p))).ToList();
            _free.Clear();
        }
        if (blocks.Count == 0) return;
        _ctx.Synchronize();
        foreach (var (size, ptr) in blocks)
        {
            Check.Cu(Driver.cuMemFree(ptr), "cuMemFree_v2");
            lock (_lock) _reserved -= size;
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        Trim();
        lock (_lock) _disposed = true;
    }
}
