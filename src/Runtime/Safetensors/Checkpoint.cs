using System.Text.Json;

namespace XDit.Runtime;

/// <summary>Opens the tensors of a model: a .safetensors file, or a folder holding one file or a sharded set
/// named by a *.safetensors.index.json (diffusers' diffusion_pytorch_model.*, transformers' model.*).</summary>
public static class Checkpoint
{
    public static ITensorSource Open(string path)
    {
        if (File.Exists(path)) return new SafetensorsFile(path);
        if (!Directory.Exists(path)) throw new FileNotFoundException($"{path}: no such file or folder", path);
        var index = Directory.GetFiles(path, "*.safetensors.index.json").OrderBy(f => f, StringComparer.Ordinal).FirstOrDefault();
        if (index is not null) return new ShardedCheckpoint(index);
        var files = Directory.GetFiles(path, "*.safetensors").OrderBy(f => f, StringComparer.Ordinal).ToArray();
        if (files.Length == 0) throw new FileNotFoundException($"{path}: no *.safetensors file and no *.safetensors.index.json in the folder", path);
        if (files.Length > 1) throw new SafetensorsFormatException(path, $"several safetensors files ({string.Join(", ", files.Select(System.IO.Path.GetFileName))}) and no index json to say which holds what");
        return new SafetensorsFile(files[0]);
    }
}

/// <summary>A checkpoint split across shards, found through its index json's weight_map.</summary>
public sealed class ShardedCheckpoint : ITensorSource
{
    readonly Dictionary<string, string> _map = new(StringComparer.Ordinal);
    readonly Dictionary<string, SafetensorsFile> _shards = new(StringComparer.Ordinal);

    public ShardedCheckpoint(string indexPath)
    {
        Path = indexPath;
        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(indexPath))!;
        using var doc = JsonDocument.Parse(File.ReadAllText(indexPath));
        foreach (var p in doc.RootElement.GetProperty("weight_map").EnumerateObject())
        {
            var file = System.IO.Path.Combine(dir, p.Value.GetString()!);
            _map[p.Name] = file;
            if (!_shards.ContainsKey(file))
            {
                if (!File.Exists(file)) throw new FileNotFoundException($"{indexPath}: shard '{p.Value.GetString()}' named by the index is missing", file);
                _shards[file] = new SafetensorsFile(file);
            }
        }
    }

    public string Path { get; }
    public IReadOnlyCollection<string> Names => _map.Keys;
    public bool Contains(string name) => _map.ContainsKey(name);
    SafetensorsFile Shard(string name) => _map.TryGetValue(name, out var f) ? _shards[f] : throw new MissingTensorException(Path, name);
    public TensorInfo Info(string name) => Shard(name).Info(name);
    public Tensor Read(string name) => Shard(name).Read(name);
    public Tensor ReadF32(string name) => Shard(name).ReadF32(name);
    public void Dispose() { foreach (var s in _shards.Values) s.Dispose(); }
}
