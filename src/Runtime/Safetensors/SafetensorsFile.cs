using System.IO.MemoryMappedFiles;

namespace XDit.Runtime;

/// <summary>
/// One .safetensors file (u64 little-endian header length, JSON header, data area), memory-mapped read-only.
/// The header is validated in full when the file is opened (<see cref="SafetensorsHeader"/>), so every later read
/// stays inside the mapping. <see cref="Read"/> copies a tensor into host memory; <see cref="GetBytes"/> and
/// <see cref="GetPointer"/> expose the mapped bytes themselves (for uploads straight from the page cache), valid
/// until the file is disposed. Reads may run on several threads at once; disposing while reading is not allowed.
/// </summary>
public sealed unsafe class SafetensorsFile : ITensorSource
{
    readonly SafetensorsHeader _header;
    readonly MemoryMappedFile _map;
    readonly MemoryMappedViewAccessor _view;
    readonly byte* _base;
    readonly long _dataStart;
    int _disposed;

    public SafetensorsFile(string path)
    {
        Path = path;
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: safetensors file not found", path);
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.RandomAccess);
        try
        {
            FileLength = stream.Length;
            // An empty file cannot be mapped; every file under 8 bytes is rejected before mapping.
            Span<byte> first8 = stackalloc byte[8];
            if (FileLength >= 8) stream.ReadExactly(first8);
            long headerLen = SafetensorsHeader.ReadHeaderLength(path, first8, FileLength);
            _dataStart = 8 + headerLen;

            _map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
        try
        {
            _view = _map.CreateViewAccessor(0, FileLength, MemoryMappedFileAccess.Read);
            byte* p = null;
            _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            _base = p + _view.PointerOffset;
            _header = SafetensorsHeader.Parse(path, new ReadOnlySpan<byte>(_base + 8, (int)(_dataStart - 8)), FileLength - _dataStart);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string Path { get; }
    /// <summary>Size of the file in bytes.</summary>
    public long FileLength { get; }
    /// <summary>Where the data area starts in the file (8 + header length); tensor offsets count from here.</summary>
    public long DataStart => _dataStart;
    /// <summary>The header's `__metadata__` (string → string), empty when the file has none.</summary>
    public IReadOnlyDictionary<string, string> Metadata => _header.Metadata;
    public IReadOnlyCollection<string> Names => _header.Names;
    /// <summary>Every tensor's info, in no particular order.</summary>
    public IEnumerable<TensorInfo> Infos => _header.Tensors.Values;
    public bool Contains(string name) => _header.Tensors.ContainsKey(name);
    public TensorInfo Info(string name) => _header.Tensors.TryGetValue(name, out var i) ? i : throw new MissingTensorException(Path, name);

    /// <summary>Host tensor holding a copy of the tensor's bytes, in the file's dtype.</summary>
    public Tensor Read(string name)
    {
        var info = Info(name);
        if (info.ByteLength > Array.MaxLength)
            throw new NotSupportedException($"{Path}: tensor '{name}' is {info.ByteLength} bytes, more than one host array can hold");
        var storage = new HostStorage(info.ByteLength);
        GetBytes(name).CopyTo(storage.Bytes);
        return new Tensor(storage, info.DType, info.Shape);
    }

    public Tensor ReadF32(string name) => DTypeConvert.ToF32(Read(name));

    /// <summary>The tensor's bytes inside the mapping, no copy. Valid until this file is disposed.</summary>
    public ReadOnlySpan<byte> GetBytes(string name)
    {
        var p = GetPointer(name, out long length);
        if (length > int.MaxValue)
            throw new NotSupportedException($"{Path}: tensor '{name}' is {length} bytes, too large for a span; use GetPointer");
        return new ReadOnlySpan<byte>(p, (int)length);
    }

    /// <summary>Address of the tensor's first byte inside the mapping and its length. Valid until this file is
    /// disposed.</summary>
    public byte* GetPointer(string name, out long length)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var info = Info(name);
        length = info.ByteLength;
        return _base + _dataStart + info.Begin;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        if (_view is not null)
        {
            if (_base != null) _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }
        _map?.Dispose();
    }
}
