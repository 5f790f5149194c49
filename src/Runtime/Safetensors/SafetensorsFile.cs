using System.Text.Json;

namespace XDit.Runtime;

/// <summary>One .safetensors file: u64 header length, JSON header, data block. (Minimal reader; validation is
/// being hardened separately.)</summary>
public sealed class SafetensorsFile : ITensorSource
{
    readonly Dictionary<string, TensorInfo> _infos = new(StringComparer.Ordinal);
    readonly long _dataStart;

    public SafetensorsFile(string path)
    {
        Path = path;
        using var fs = File.OpenRead(path);
        var lenBytes = new byte[8];
        if (fs.Read(lenBytes, 0, 8) != 8) throw new SafetensorsFormatException(path, "file shorter than the 8-byte header length");
        long headerLen = BitConverter.ToInt64(lenBytes);
        if (headerLen <= 0 || headerLen > fs.Length - 8) throw new SafetensorsFormatException(path, $"header length {headerLen} runs past the end of the file ({fs.Length} bytes)");
        var header = new byte[headerLen];
        fs.ReadExactly(header);
        _dataStart = 8 + headerLen;
        using var doc = JsonDocument.Parse(header);
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Name == "__metadata__") continue;
            var dt = p.Value.GetProperty("dtype").GetString()!;
            if (!DTypeExtensions.TryParseSafetensors(dt, out var dtype)) throw new SafetensorsFormatException(path, $"tensor '{p.Name}' has unknown dtype '{dt}'");
            var shape = p.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var off = p.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            _infos[p.Name] = new TensorInfo(p.Name, path, dtype, shape, off[0], off[1]);
        }
    }

    public string Path { get; }
    public IReadOnlyCollection<string> Names => _infos.Keys;
    public bool Contains(string name) => _infos.ContainsKey(name);
    public TensorInfo Info(string name) => _infos.TryGetValue(name, out var i) ? i : throw new MissingTensorException(Path, name);

    public Tensor Read(string name)
    {
        var info = Info(name);
        var storage = new HostStorage(info.End - info.Begin);
        using var handle = File.OpenHandle(Path);
        RandomAccess.Read(handle, storage.Bytes, _dataStart + info.Begin);
        return new Tensor(storage, info.DType, info.Shape);
    }

    public Tensor ReadF32(string name) => DTypeConvert.ToF32(Read(name));

    public void Dispose() { }
}
