using System.Globalization;
using System.Text.Json;
using XDit.Runtime;

namespace XDit.Engine.Inspect;

/// <summary>
/// Lists the weights at a path: a .safetensors file (or index json), a model folder (config.json + weights), or a
/// diffusers pipeline folder whose model_index.json names component folders. Only headers are read.
/// </summary>
public static class ModelInspector
{
    public static ModelInspection Inspect(string path)
    {
        if (File.Exists(path))
            return new ModelInspection(path, "weights file", [Component(System.IO.Path.GetFileName(path), path)]);
        if (!Directory.Exists(path))
            throw new FileNotFoundException($"{path}: no such file or folder", path);

        var modelIndex = System.IO.Path.Combine(path, "model_index.json");
        if (File.Exists(modelIndex)) return InspectPipeline(path, modelIndex);

        var weights = Checkpoint.FindWeights(path)
            ?? throw new FileNotFoundException($"{path}: no weights in the folder (expected *.safetensors or a *.safetensors.index.json) and no model_index.json", path);
        var config = System.IO.Path.Combine(path, "config.json");
        var className = File.Exists(config) ? JsonConfig.Load(config).ClassName : null;
        var name = System.IO.Path.GetFileName(System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(path)));
        return new ModelInspection(path, className is null ? "model folder" : $"model folder ({className})", [Component(name, weights)]);
    }

    static ModelInspection InspectPipeline(string path, string modelIndex)
    {
        var index = JsonConfig.Load(modelIndex);
        var components = new List<ComponentWeights>();
        foreach (var p in index.Root.EnumerateObject())
        {
            // Components are the entries ["library", "Class"]; keys starting with "_" are the pipeline's own.
            if (p.Name.StartsWith('_') || p.Value.ValueKind != JsonValueKind.Array) continue;
            var folder = System.IO.Path.Combine(path, p.Name);
            var weights = Directory.Exists(folder) ? Checkpoint.FindWeights(folder) : null;
            if (weights is not null) components.Add(Component(p.Name, weights));
        }
        if (components.Count == 0)
            throw new FileNotFoundException($"{modelIndex}: none of the components it names has a folder with weights", modelIndex);
        components.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        var className = index.ClassName;
        return new ModelInspection(path, className is null ? "pipeline" : $"pipeline ({className})", components);
    }

    static ComponentWeights Component(string name, string weightsPath)
    {
        using var source = Checkpoint.Open(weightsPath);
        var infos = source.Names.OrderBy(n => n, StringComparer.Ordinal).Select(source.Info).ToList();
        return new ComponentWeights(name, weightsPath, infos);
    }

    /// <summary>Tensors per component (name, dtype, shape), then a table of parameters and bytes with totals.</summary>
    /// <summary>The summary first (what the path is, then tensors, parameters and bytes per component and in total);
    /// with <paramref name="listTensors"/>, then each component's weights file and every tensor (name, dtype, shape).</summary>
    public static void Print(ModelInspection m, TextWriter o, bool listTensors = false)
    {
        o.WriteLine($"{m.Path}: {m.Description}");
        o.WriteLine();
        var rows = m.Components.Select(c => (c.Name, Tensors: (long)c.Tensors.Count, c.Parameters, c.Bytes)).ToList();
        if (rows.Count > 1) rows.Add(("total", rows.Sum(r => r.Tensors), m.Parameters, m.Bytes));
        int w = Math.Max("component".Length, rows.Max(r => r.Name.Length));
        o.WriteLine($"{"component".PadRight(w)}  {"tensors",8}  {"parameters",14}  {"bytes",14}");
        foreach (var r in rows)
            o.WriteLine($"{r.Name.PadRight(w)}  {r.Tensors,8}  {N(r.Parameters),14}  {N(r.Bytes),14}  ({ByteSize.Format(r.Bytes)})");
        if (!listTensors) return;

        foreach (var c in m.Components)
        {
            o.WriteLine();
            o.WriteLine($"{c.Name}: {c.WeightsPath} ({c.Tensors.Count} tensors)");
            int nameWidth = c.Tensors.Count == 0 ? 0 : c.Tensors.Max(t => t.Name.Length);
            foreach (var t in c.Tensors)
                o.WriteLine($"  {t.Name.PadRight(nameWidth)}  {t.DType,-4}  {Shape.Format(t.Shape)}");
        }
    }

    static string N(long x) => x.ToString("N0", CultureInfo.InvariantCulture);
}
