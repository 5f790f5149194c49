namespace XDit.Runtime;

/// <summary>
/// A block of memory owned by one backend (host memory for the CPU backend, device memory for CUDA).
/// Storage is handed out and taken back by that backend's <see cref="IAllocator"/>.
/// </summary>
public abstract class Storage
{
    protected Storage(long byteLength) => ByteLength = byteLength;

    public long ByteLength { get; }

    /// <summary>The allocator that takes this storage back when its owning tensor is disposed; null for
    /// storage that lives on its own (a memory-mapped file, a user's array).</summary>
    public IAllocator? Owner { get; init; }
}

/// <summary>Host memory: a pinned managed byte array, so both spans and raw pointers are stable.</summary>
public sealed class HostStorage : Storage
{
    public HostStorage(long byteLength) : base(byteLength)
    {
        Bytes = GC.AllocateUninitializedArray<byte>(checked((int)byteLength), pinned: true);
    }

    public HostStorage(byte[] bytes) : base(bytes.LongLength) => Bytes = bytes;

    public byte[] Bytes { get; }
}

/// <summary>Hands out storage and takes it back. Implementations cache freed blocks so that a repeated forward
/// pass allocates nothing new after the first (<see cref="FreshAllocations"/> stops growing).</summary>
public interface IAllocator
{
    Storage Allocate(long byteLength);
    void Release(Storage storage);
    /// <summary>How many times the allocator had to ask the system for new memory.</summary>
    long FreshAllocations { get; }
    /// <summary>Bytes currently handed out and not yet released.</summary>
    long BytesInUse { get; }
    /// <summary>The most bytes ever handed out at once.</summary>
    long PeakBytesInUse { get; }
    /// <summary>The memory this allocator draws from in all (the host's, or the device's total), for estimates
    /// of whether a piece of work fits before it starts.</summary>
    long CapacityBytes { get; }
    /// <summary>Starts <see cref="PeakBytesInUse"/> again from the bytes in use now (to measure one stage of work).</summary>
    void ResetPeak();
}
