using System.Text.Json;

namespace XDit.Engine.Analysis;

/// <summary>
/// Reads the prompts of an analysis from a file: a COCO captions JSON (an object whose "annotations" array holds
/// objects with a "caption", as DiTFastAttn's and the paper's caption sets come), a JSON array of strings, or plain
/// text with one prompt per line (blank lines skipped, as the tool's caption1000.txt). In file order.
/// </summary>
public static class PromptsFile
{
    public static IReadOnlyList<string> Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: the prompts file does not exist", path);
        var text = File.ReadAllText(path);
        var trimmed = text.TrimStart();
        List<string> prompts;
        if (trimmed.StartsWith('{') || trimmed.StartsWith('['))
        {
            JsonDocument doc;
            try { doc = JsonDocument.Parse(text); }
            catch (JsonException e) { throw new InvalidDataException($"{path}: not valid JSON ({e.Message}); a prompts file is COCO captions JSON, a JSON array of strings or plain lines", e); }
            using (doc) prompts = FromJson(path, doc.RootElement);
        }
        else prompts = text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0).ToList();
        if (prompts.Count == 0) throw new InvalidDataException($"{path}: no prompts found");
        return prompts;
    }

    static List<string> FromJson(string path, JsonElement root)
    {
        if (root.ValueKind == JsonValueKind.Array)
            return root.EnumerateArray().Select((e, i) => e.ValueKind == JsonValueKind.String ? e.GetString()!.Trim()
                : throw new InvalidDataException($"{path}: element {i} of the array is {e.ValueKind}, expected a string")).ToList();
        if (!root.TryGetProperty("annotations", out var notes) || notes.ValueKind != JsonValueKind.Array)
            throw new InvalidDataException($"{path}: a COCO captions file has an \"annotations\" array");
        var list = new List<string>();
        int i = 0;
        foreach (var n in notes.EnumerateArray())
        {
            if (n.ValueKind != JsonValueKind.Object || !n.TryGetProperty("caption", out var c) || c.ValueKind != JsonValueKind.String)
                throw new InvalidDataException($"{path}: annotations[{i}] has no string \"caption\"");
            list.Add(c.GetString()!.Trim());
            i++;
        }
        return list;
    }
}
