using XDit.Runtime;

namespace XDit.Engine.Pipelines;

/// <summary>
/// A diffusers pipeline folder's model_index.json: the pipeline class and, per component, the library and class
/// that fill its subfolder. Components given as [null, null] are absent on purpose.
/// </summary>
public sealed class ModelIndex
{
    ModelIndex(string dir, string pipelineClass, IReadOnlyDictionary<string, string> components)
    {
        Dir = dir; PipelineClass = pipelineClass; Components = components;
    }

    public string Dir { get; }
    public string PipelineClass { get; }
    /// <summary>Component name (folder) → class name.</summary>
    public IReadOnlyDictionary<string, string> Components { get; }

    public static ModelIndex Load(string dir)
    {
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"{dir}: model folder not found");
        var path = Path.Combine(dir, "model_index.json");
        if (!File.Exists(path)) throw new FileNotFoundException($"{dir}: not a diffusers pipeline folder (model_index.json is missing)", path);
        var cfg = JsonConfig.Load(path);
        var components = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in cfg.Root.EnumerateObject())
        {
            if (p.Name.StartsWith('_') || p.Value.ValueKind != System.Text.Json.JsonValueKind.Array) continue;
            var parts = p.Value.EnumerateArray().ToArray();
            if (parts.Length == 2 && parts[1].ValueKind == System.Text.Json.JsonValueKind.String)
                components[p.Name] = parts[1].GetString()!;
        }
        return new ModelIndex(Path.GetFullPath(dir), cfg.GetString("_class_name"), components);
    }

    /// <summary>The folder of a component, checked to exist with the files a component needs.</summary>
    public string Require(string component)
    {
        if (!Components.ContainsKey(component))
            throw new InvalidDataException($"{Dir}: model_index.json names no '{component}' component, which a {PipelineClass} needs");
        var dir = Path.Combine(Dir, component);
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"{Dir}: the '{component}' folder is missing (model_index.json names it)");
        bool isTokenizer = component.StartsWith("tokenizer", StringComparison.Ordinal);
        bool isScheduler = component == "scheduler";
        if (isScheduler)
        {
            if (!File.Exists(Path.Combine(dir, "scheduler_config.json"))) throw new FileNotFoundException($"{dir}: scheduler_config.json is missing");
        }
        else if (!isTokenizer)
        {
            if (!File.Exists(Path.Combine(dir, "config.json"))) throw new FileNotFoundException($"{dir}: config.json is missing");
            if (Directory.GetFiles(dir, "*.safetensors").Length == 0 && Directory.GetFiles(dir, "*.safetensors.index.json").Length == 0)
                throw new FileNotFoundException($"{dir}: no weights (*.safetensors) in the '{component}' folder");
        }
        return dir;
    }
}
