using System.Text.Json;

namespace XDit.Runtime;

/// <summary>
/// A checkpoint split across shards, found through its index json's weight_map (tensor name → shard file name,
/// relative to the index's folder). Opening validates the index and that every tensor it lists is in its shard.
/// </summary>
public sealed class ShardedCheckpoint : ITensorSource
{
    readonly Dictionary<string, SafetensorsFile> _byTensor = new(StringComparer.Ordinal);
    readonly Dictionary<string, SafetensorsFile> _shards = new(StringComparer.Ordinal);

    public ShardedCheckpoint(string indexPath)
    {
        Path = indexPath;
        if (!File.Exists(indexPath)) throw new FileNotFoundException($"{indexPath}: index file not found", indexPath);
        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(indexPath))!;
        try
        {
            foreach (var (tensor, shardName) in ReadWeightMap(indexPath))
            {
                var file = System.IO.Path.Combine(dir, shardName);
                if (!_shards.TryGetValue(file, out var shard))
                {
                    if (!File.Exists(file))
                        throw new FileNotFoundException($"{indexPath}: shard '{shardName}' named by the index (for tensor '{tensor}') is missing", file);
                    _shards[file] = shard = new SafetensorsFile(file);
                }
                if (!shard.Contains(tensor))
                    throw new SafetensorsFormatException(indexPath, tensor, $"the index puts it in shard '{shardName}', which does not hold it");
                _byTensor[tensor] = shard;
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    static List<(string Tensor, string Shard)> ReadWeightMap(string indexPath)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(indexPath)); }
        catch (JsonException e) { throw new SafetensorsFormatException(indexPath, $"index is not valid JSON: {e.Message}", e); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new SafetensorsFormatException(indexPath, $"index must be a JSON object, found {doc.RootElement.ValueKind}");
            if (!doc.RootElement.TryGetProperty("weight_map", out var map))
                throw new SafetensorsFormatException(indexPath, "index has no 'weight_map' (expected an object of tensor name → shard file)");
            if (map.ValueKind != JsonValueKind.Object)
                throw new SafetensorsFormatException(indexPath, $"'weight_map' must be an object of tensor name → shard file, found {map.ValueKind}");
            var result = new List<(string, string)>();
            foreach (var p in map.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String || string.IsNullOrEmpty(p.Value.GetString()))
                    throw new SafetensorsFormatException(indexPath, p.Name, $"weight_map entry must be a shard file name, found {p.Value.GetRawText()}");
                result.Add((p.Name, p.Value.GetString()!));
            }
            return result;
        }
    }

    public string Path { get; }
    public IReadOnlyCollection<string> Names => _byTensor.Keys;
    /// <summary>The shard files, opened.</summary>
    public IReadOnlyCollection<SafetensorsFile> Shards => _shards.Values;
    public bool Contains(string name) => _byTensor.ContainsKey(name);
    SafetensorsFile Shard(string name) => _byTensor.TryGetValue(name, out var f) ? f : throw new MissingTensorException(Path, name);
    public TensorInfo Info(string name) => Shard(name).Info(name);
    public Tensor Read(string name) => Shard(name).Read(name);
    public Tensor ReadF32(string name) => Shard(name).ReadF32(name);
    public void Dispose() { foreach (var s in _shards.Values) s.Dispose(); }
}
