using System.Text;
using System.Text.Json;

namespace XDit.Runtime;

/// <summary>
/// A config.json (diffusers/transformers) read as JSON. Python's json writes the bare tokens NaN, Infinity and
/// -Infinity, which strict JSON forbids; they are accepted here. Getters name the file and key when a value is
/// missing or of the wrong kind.
/// </summary>
public sealed class JsonConfig
{
    readonly JsonElement _root;

    JsonConfig(string path, JsonElement root) { Path = path; _root = root; }

    public string Path { get; }
    public JsonElement Root => _root;

    public static JsonConfig Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: config file not found", path);
        return Parse(File.ReadAllText(path), path);
    }

    public static JsonConfig Parse(string json, string path = "<config>")
    {
        try
        {
            using var doc = JsonDocument.Parse(QuoteNonFiniteLiterals(json), new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new FormatException($"{path}: expected a JSON object at the top level");
            RequireValidText(doc.RootElement, path);
            return new JsonConfig(path, doc.RootElement.Clone());
        }
        catch (JsonException e) { throw new FormatException($"{path}: invalid JSON: {e.Message}", e); }
    }

    /// <summary>
    /// Reads every key and string once: a lone surrogate escape (\ud800) or bytes that are not UTF-8 pass the JSON
    /// reader and would fail later, as an InvalidOperationException, wherever the string is first read.
    /// </summary>
    static void RequireValidText(JsonElement e, string path)
    {
        try
        {
            switch (e.ValueKind)
            {
                case JsonValueKind.Object:
                    foreach (var p in e.EnumerateObject()) { _ = p.Name; RequireValidText(p.Value, path); }
                    break;
                case JsonValueKind.Array:
                    foreach (var item in e.EnumerateArray()) RequireValidText(item, path);
                    break;
                case JsonValueKind.String:
                    _ = e.GetString();
                    break;
            }
        }
        catch (InvalidOperationException x)
        {
            throw new FormatException($"{path}: holds text that is not valid Unicode (a lone surrogate or bytes that are not UTF-8): {x.Message}", x);
        }
    }

    /// <summary>Rewrites bare NaN/Infinity/-Infinity (outside strings) as the strings "NaN", "Infinity", "-Infinity".</summary>
    static string QuoteNonFiniteLiterals(string json)
    {
        if (!json.Contains("NaN") && !json.Contains("Infinity")) return json;
        var sb = new StringBuilder(json.Length + 16);
        bool inString = false;
        for (int i = 0; i < json.Length; i++)
        {
            char c = json[i];
            if (inString)
            {
                sb.Append(c);
                if (c == '\\' && i + 1 < json.Length) sb.Append(json[++i]);
                else if (c == '"') inString = false;
                continue;
            }
            if (c == '"') { inString = true; sb.Append(c); continue; }
            string? tok = Match(json, i, "-Infinity") ?? Match(json, i, "Infinity") ?? Match(json, i, "NaN");
            if (tok is not null) { sb.Append('"').Append(tok).Append('"'); i += tok.Length - 1; continue; }
            sb.Append(c);
        }
        return sb.ToString();

        static string? Match(string s, int i, string tok) => string.CompareOrdinal(s, i, tok, 0, tok.Length) == 0 ? tok : null;
    }

    public bool Has(string key) => _root.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null;

    public JsonElement Get(string key)
    {
        if (!_root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null)
            throw new KeyNotFoundException($"{Path}: missing key '{key}'");
        return v;
    }

    public string? ClassName => Has("_class_name") ? GetString("_class_name") : null;

    public int GetInt(string key) => Read(key, "an integer", e => e.GetInt32());
    public int GetInt(string key, int fallback) => Has(key) ? GetInt(key) : Defaulted(key, fallback);
    /// <summary>An integer from <paramref name="min"/> to <paramref name="max"/>: every count and size a model reads, so
    /// that a 0, a negative or an absurd value is one line naming the file and key, not an overflow deep in a layer.</summary>
    public int GetInt(string key, int fallback, int min, int max) => Has(key) ? GetIntIn(key, min, max) : Defaulted(key, fallback);

    readonly Dictionary<string, string> _defaulted = new(StringComparer.Ordinal);

    int Defaulted(string key, int value)
    {
        lock (_defaulted) _defaulted[key] = value.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return value;
    }

    /// <summary>
    /// " (num_attention_heads is not in the file: the default 16 was taken)" for those of <paramref name="keys"/> read
    /// with a fallback because the file lacks them, else "": a check on a product of such numbers then says why its
    /// numbers are what they are, rather than blaming a key the file does give.
    /// </summary>
    public string DefaultsNote(params string[] keys)
    {
        List<string> taken;
        lock (_defaulted) taken = keys.Where(_defaulted.ContainsKey).Select(k => $"{k} is not in the file: the default {_defaulted[k]} was taken").ToList();
        return taken.Count == 0 ? "" : $" ({string.Join("; ", taken)})";
    }

    /// <summary>A required integer from <paramref name="min"/> to <paramref name="max"/>.</summary>
    public int GetIntIn(string key, int min, int max)
    {
        int v = GetInt(key);
        if (v < min || v > max) throw new FormatException($"{Path}: key '{key}' must be an integer from {min} to {max}, found {v}");
        return v;
    }

    /// <summary>A finite number above 0 (a scale, an epsilon): NaN, infinity, 0 or a negative value names the file and key.</summary>
    public double GetPositiveDouble(string key, double fallback)
    {
        if (!Has(key)) return fallback;
        double v = GetDouble(key);
        if (!double.IsFinite(v) || v <= 0) throw new FormatException($"{Path}: key '{key}' must be a finite number above 0, found {v}");
        return v;
    }

    /// <summary>A finite number (NaN and infinity name the file and key).</summary>
    public double GetFiniteDouble(string key, double fallback)
    {
        if (!Has(key)) return fallback;
        double v = GetDouble(key);
        if (!double.IsFinite(v)) throw new FormatException($"{Path}: key '{key}' must be a finite number, found {v}");
        return v;
    }

    public double GetDouble(string key) => Read(key, "a number", ParseDouble);
    public double GetDouble(string key, double fallback) => Has(key) ? GetDouble(key) : fallback;
    public double? GetDoubleOrNull(string key) => Has(key) ? GetDouble(key) : null;
    public bool GetBool(string key) => Read(key, "true or false", e => e.GetBoolean());
    public bool GetBool(string key, bool fallback) => Has(key) ? GetBool(key) : fallback;
    public string GetString(string key) => Read(key, "a string", e => e.GetString() ?? throw new FormatException());
    public string? GetString(string key, string? fallback) => Has(key) ? GetString(key) : fallback;
    public int[] GetIntArray(string key) => Read(key, "an array of integers", e => e.EnumerateArray().Select(x => x.GetInt32()).ToArray());
    public int[]? GetIntArrayOrNull(string key) => Has(key) ? GetIntArray(key) : null;
    public string[] GetStringArray(string key) => Read(key, "an array of strings", e => e.EnumerateArray().Select(x => x.GetString() ?? throw new FormatException()).ToArray());
    public double[] GetDoubleArray(string key) => Read(key, "an array of numbers", e => e.EnumerateArray().Select(ParseDouble).ToArray());

    static double ParseDouble(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Number => e.GetDouble(),
        JsonValueKind.String => e.GetString() switch
        {
            "NaN" => double.NaN,
            "Infinity" => double.PositiveInfinity,
            "-Infinity" => double.NegativeInfinity,
            var s => throw new FormatException($"not a number: \"{s}\""),
        },
        _ => throw new FormatException($"not a number: {e.ValueKind}"),
    };

    /// <summary>Reads a present key with <paramref name="read"/>; a value of the wrong kind is a FormatException
    /// naming the file, the key, what was expected and the value found.</summary>
    T Read<T>(string key, string expected, Func<JsonElement, T> read)
    {
        var v = Get(key);
        try { return read(v); }
        catch (Exception e) when (e is FormatException or InvalidOperationException or OverflowException)
        {
            var raw = v.GetRawText();
            if (raw.Length > 80) raw = raw[..77] + "...";
            throw new FormatException($"{Path}: key '{key}' must be {expected}, found {raw}", e);
        }
    }
}
