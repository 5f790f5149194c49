namespace XDit.Runtime;

/// <summary>
/// Caching allocator for host memory: freed blocks are kept in per-size free lists and handed out again for the
/// same size. Diffusion steps repeat the same shapes, so after the first step every request hits the cache.
/// Thread-safe (in-process ranks share nothing, but a rank's ops may run on several threads).
/// </summary>
public sealed class HostArena : IAllocator
{
    readonly Dictionary<long, Stack<HostStorage>> _free = new();
    readonly object _lock = new();
    long _fresh, _inUse, _peak;

    public long FreshAllocations { get { lock (_lock) return _fresh; } }
    public long BytesInUse { get { lock (_lock) return _inUse; } }
    public long PeakBytesInUse { get { lock (_lock) return _peak; } }
    /// <summary>The memory the runtime may use: physical memory, or a container's limit where one is set.</summary>
    public long CapacityBytes => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
    public void ResetPeak() { lock (_lock) _peak = _inUse; }

    public Storage Allocate(long byteLength)
    {
        if (byteLength < 0) throw new ArgumentOutOfRangeException(nameof(byteLength));
        lock (_lock)
        {
            _inUse += byteLength;
            _peak = Math.Max(_peak, _inUse);
            if (_free.TryGetValue(byteLength, out var stack) && stack.Count > 0)
                return stack.Pop();
            _fresh++;
        }
        return new HostStorage(byteLength) { Owner = this };
    }

    public void Release(Storage storage)
    {
        if (storage is not HostStorage hs || !ReferenceEquals(storage.Owner, this))
            throw new ArgumentException("storage was not allocated by this arena", nameof(storage));
        lock (_lock)
        {
            _inUse -= hs.ByteLength;
            if (!_free.TryGetValue(hs.ByteLength, out var stack)) _free[hs.ByteLength] = stack = new Stack<HostStorage>();
            stack.Push(hs);
        }
    }

    /// <summary>Drops every cached block (they become garbage).</summary>
    public void Trim() { lock (_lock) _free.Clear(); }
}
