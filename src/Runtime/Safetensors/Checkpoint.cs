using System.Text.RegularExpressions;

namespace XDit.Runtime;

/// <summary>
/// Opens the tensors of a model: a .safetensors file, a *.safetensors.index.json, or a folder holding either under
/// the names diffusers and transformers write (diffusion_pytorch_model.*, model.*), plain or in a variant
/// (diffusion_pytorch_model.fp16.safetensors, diffusion_pytorch_model.safetensors.index.fp16.json).
/// </summary>
public static partial class Checkpoint
{
    static readonly string[] Stems = ["diffusion_pytorch_model", "model"];

    /// <summary>Opens <paramref name="path"/>; for a folder, the weights <see cref="FindWeights"/> picks.</summary>
    public static ITensorSource Open(string path) => Open(path, null);

    /// <summary>Opens <paramref name="path"/>, preferring the given weight variant (e.g. "fp16") in a folder.</summary>
    public static ITensorSource Open(string path, string? variant)
    {
        if (File.Exists(path)) return OpenFile(path);
        if (!Directory.Exists(path)) throw new FileNotFoundException($"{path}: no such file or folder", path);
        var found = FindWeights(path, variant)
            ?? throw new FileNotFoundException($"{path}: no weights in the folder (expected diffusion_pytorch_model.safetensors, model.safetensors, a variant of them, or a *.safetensors.index.json)", path);
        return OpenFile(found);
    }

    static ITensorSource OpenFile(string file) =>
        file.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? new ShardedCheckpoint(file) : new SafetensorsFile(file);

    /// <summary>
    /// The weights file (or index json) of a model folder, or null when it has none. Order: with a variant, only
    /// that variant's names; otherwise the plain names (index before single file, diffusers' before transformers'),
    /// then the one variant present (several are ambiguous and throw), then any lone *.safetensors.index.json or
    /// lone *.safetensors.
    /// </summary>
    public static string? FindWeights(string folder, string? variant = null)
    {
        string? First(IEnumerable<string> names) =>
            names.Select(n => System.IO.Path.Combine(folder, n)).FirstOrDefault(File.Exists);

        if (variant is not null)
        {
            return First(Stems.SelectMany(s => new[] { $"{s}.safetensors.index.{variant}.json", $"{s}.{variant}.safetensors" }))
                ?? throw new FileNotFoundException($"{folder}: no weights of variant '{variant}' (expected e.g. diffusion_pytorch_model.{variant}.safetensors or model.{variant}.safetensors)", folder);
        }

        var plain = First(Stems.SelectMany(s => new[] { $"{s}.safetensors.index.json", $"{s}.safetensors" }));
        if (plain is not null) return plain;

        var files = Directory.GetFiles(folder).Select(f => System.IO.Path.GetFileName(f)!).OrderBy(f => f, StringComparer.Ordinal).ToArray();
        var variants = files.Select(f => VariantName().Match(f)).Where(m => m.Success && !ShardSuffix().IsMatch(m.Groups["v"].Value))
            .Select(m => m.Groups["v"].Value).Distinct().ToArray();
        if (variants.Length == 1) return FindWeights(folder, variants[0]);
        if (variants.Length > 1)
            throw new SafetensorsFormatException(folder, $"weights in several variants ({string.Join(", ", variants)}) and no plain diffusion_pytorch_model/model weights: choose a variant");

        var indexes = files.Where(f => f.EndsWith(".safetensors.index.json", StringComparison.Ordinal)).ToArray();
        if (indexes.Length == 1) return System.IO.Path.Combine(folder, indexes[0]);
        if (indexes.Length > 1)
            throw new SafetensorsFormatException(folder, $"several index files ({string.Join(", ", indexes)}) and none with a standard name");
        var singles = files.Where(f => f.EndsWith(".safetensors", StringComparison.Ordinal)).ToArray();
        if (singles.Length == 1) return System.IO.Path.Combine(folder, singles[0]);
        if (singles.Length > 1)
            throw new SafetensorsFormatException(folder, $"several safetensors files ({string.Join(", ", singles)}) and no index json to say which holds what");
        return null;
    }

    [GeneratedRegex(@"^(diffusion_pytorch_model|model)\.(safetensors\.index\.(?<v>[^.]+)\.json|(?<v>[^.]+)\.safetensors)$")]
    private static partial Regex VariantName();

    /// <summary>Shards of a sharded variant ("fp16-00001-of-00002") are not variants of their own.</summary>
    [GeneratedRegex(@"-\d+-of-\d+$")]
    private static partial Regex ShardSuffix();
}
