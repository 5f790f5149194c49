using System.Text.Json;
using System.Text.Unicode;

namespace XDit.Runtime;

/// <summary>
/// The parsed and fully validated JSON header of a safetensors file. Every check the format implies is made here,
/// before any tensor is read, so that a reader can trust every offset it hands out: each failure is a
/// <see cref="SafetensorsFormatException"/> naming the file, the tensor and what was expected and found.
/// </summary>
public sealed class SafetensorsHeader
{
    /// <summary>The reference implementation refuses headers over 100 MB; so do we (a corrupt length would
    /// otherwise make us allocate whatever it says).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    readonly Dictionary<string, TensorInfo> _tensors;

    SafetensorsHeader(Dictionary<string, TensorInfo> tensors, Dictionary<string, string> metadata)
    {
        _tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>Tensors by name, offsets relative to the start of the data area.</summary>
    public IReadOnlyDictionary<string, TensorInfo> Tensors => _tensors;
    public IReadOnlyCollection<string> Names => _tensors.Keys;
    /// <summary>The `__metadata__` entry (string → string), empty when absent.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>
    /// Reads the 8-byte little-endian header length from the first bytes of a file of <paramref name="fileLength"/>
    /// bytes and checks it against the file and the 100 MB limit.
    /// </summary>
    public static long ReadHeaderLength(string path, ReadOnlySpan<byte> first8, long fileLength)
    {
        if (fileLength < 8)
            throw new SafetensorsFormatException(path, $"file is {fileLength} bytes, shorter than the 8-byte header length that starts a safetensors file");
        ulong len = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(first8);
        if (len > MaxHeaderBytes)
            throw new SafetensorsFormatException(path, $"header length {len} is over the {MaxHeaderBytes}-byte limit (file is {fileLength} bytes)");
        if ((long)len > fileLength - 8)
            throw new SafetensorsFormatException(path, $"header length {len} runs past the end of the file (expected at most {fileLength - 8}, the file is {fileLength} bytes)");
        return (long)len;
    }

    /// <summary>Parses and validates the JSON header; <paramref name="dataLength"/> is the size of the data area
    /// that follows it.</summary>
    public static SafetensorsHeader Parse(string path, ReadOnlySpan<byte> json, long dataLength)
    {
        if (!Utf8.IsValid(json))
            throw new SafetensorsFormatException(path, "header is not valid UTF-8");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw new SafetensorsFormatException(path, $"header is not valid JSON: {e.Message}", e);
        }
        try
        {
            using (doc) return FromDocument(path, doc.RootElement, dataLength);
        }
        catch (InvalidOperationException e)
        {
            // System.Text.Json validates escapes lazily: a lone surrogate such as "\ud800" in a name or a string
            // only throws when the string is read.
            throw new SafetensorsFormatException(path, $"header holds a string that is not valid text: {e.Message}", e);
        }
    }

    static SafetensorsHeader FromDocument(string path, JsonElement root, long dataLength)
    {
        if (root.ValueKind != JsonValueKind.Object)
            throw new SafetensorsFormatException(path, $"header must be a JSON object, found {Kind(root)}");

        var tensors = new Dictionary<string, TensorInfo>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        bool sawMetadata = false;
        foreach (var p in root.EnumerateObject())
        {
            if (p.Name == "__metadata__")
            {
                if (sawMetadata) throw new SafetensorsFormatException(path, "header has '__metadata__' twice");
                sawMetadata = true;
                ReadMetadata(path, p.Value, metadata);
                continue;
            }
            if (tensors.ContainsKey(p.Name))
                throw new SafetensorsFormatException(path, p.Name, "named twice in the header");
            tensors[p.Name] = ReadEntry(path, p.Name, p.Value, dataLength);
        }
        CheckNoOverlap(path, tensors.Values);
        return new SafetensorsHeader(tensors, metadata);
    }

    static void ReadMetadata(string path, JsonElement value, Dictionary<string, string> into)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new SafetensorsFormatException(path, $"'__metadata__' must be an object of strings, found {Kind(value)}");
        foreach (var m in value.EnumerateObject())
        {
            if (m.Value.ValueKind != JsonValueKind.String)
                throw new SafetensorsFormatException(path, $"'__metadata__' entry '{m.Name}' must be a string, found {Kind(m.Value)}");
            into[m.Name] = m.Value.GetString()!;
        }
    }

    static TensorInfo ReadEntry(string path, string name, JsonElement e, long dataLength)
    {
        if (e.ValueKind != JsonValueKind.Object)
            throw new SafetensorsFormatException(path, name, $"entry must be an object with dtype, shape and data_offsets, found {Kind(e)}");

        var dtypeEl = Field(path, name, e, "dtype", JsonValueKind.String, "a string");
        var dtypeName = dtypeEl.GetString()!;
        if (!DTypeExtensions.TryParseSafetensors(dtypeName, out var dtype))
            throw new SafetensorsFormatException(path, name, $"unknown dtype '{dtypeName}' (expected one of F32, F16, BF16, I64, I32, U8)");

        var shapeEl = Field(path, name, e, "shape", JsonValueKind.Array, "an array of non-negative integers");
        var shape = new int[shapeEl.GetArrayLength()];
        int i = 0;
        foreach (var d in shapeEl.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long dim))
                throw new SafetensorsFormatException(path, name, $"shape[{i}] must be an integer, found {d.GetRawText()}");
            if (dim < 0)
                throw new SafetensorsFormatException(path, name, $"shape[{i}] is negative ({dim})");
            if (dim > int.MaxValue)
                throw new SafetensorsFormatException(path, name, $"shape[{i}] = {dim} is over the supported maximum {int.MaxValue}");
            shape[i++] = (int)dim;
        }

        var offEl = Field(path, name, e, "data_offsets", JsonValueKind.Array, "an array [begin, end]");
        if (offEl.GetArrayLength() != 2)
            throw new SafetensorsFormatException(path, name, $"data_offsets must be [begin, end], found {offEl.GetArrayLength()} values");
        long begin = Offset(path, name, offEl[0], "begin"), end = Offset(path, name, offEl[1], "end");
        if (begin > end)
            throw new SafetensorsFormatException(path, name, $"data_offsets [{begin}, {end}] has begin after end");
        if (end > dataLength)
            throw new SafetensorsFormatException(path, name, $"data_offsets end {end} is past the end of the data area ({dataLength} bytes)");

        long expected = ByteSize(shape, dtype);
        if (expected != end - begin)
            throw new SafetensorsFormatException(path, name,
                $"data_offsets [{begin}, {end}] hold {end - begin} bytes, expected {(expected < 0 ? "more than the file can hold" : expected.ToString())} for {dtype} {Shape.Format(shape)}");
        return new TensorInfo(name, path, dtype, shape, begin, end);
    }

    /// <summary>Bytes of a dtype/shape, or −1 when the count does not fit in a long (the file cannot hold it then).</summary>
    static long ByteSize(int[] shape, DType dtype)
    {
        if (Array.IndexOf(shape, 0) >= 0) return 0;
        Int128 n = dtype.SizeOf();
        foreach (var d in shape)
        {
            n *= d;
            if (n > long.MaxValue) return -1;
        }
        return (long)n;
    }

    static JsonElement Field(string path, string name, JsonElement e, string key, JsonValueKind kind, string expected)
    {
        if (!e.TryGetProperty(key, out var v))
            throw new SafetensorsFormatException(path, name, $"entry has no '{key}' (expected {expected})");
        if (v.ValueKind != kind)
            throw new SafetensorsFormatException(path, name, $"'{key}' must be {expected}, found {Kind(v)} {Short(v)}");
        return v;
    }

    static long Offset(string path, string name, JsonElement v, string which)
    {
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out long x) || x < 0)
            throw new SafetensorsFormatException(path, name, $"data_offsets {which} must be a non-negative integer, found {Short(v)}");
        return x;
    }

    /// <summary>Two tensors may not share bytes. Sorted by begin, each non-empty tensor must start at or after
    /// the furthest end seen so far.</summary>
    static void CheckNoOverlap(string path, IEnumerable<TensorInfo> infos)
    {
        TensorInfo? furthest = null;
        foreach (var t in infos.Where(t => t.End > t.Begin).OrderBy(t => t.Begin).ThenBy(t => t.End))
        {
            if (furthest is not null && t.Begin < furthest.End)
                throw new SafetensorsFormatException(path, t.Name,
                    $"data_offsets [{t.Begin}, {t.End}] overlap tensor '{furthest.Name}' at [{furthest.Begin}, {furthest.End}]");
            if (furthest is null || t.End > furthest.End) furthest = t;
        }
    }

    static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => e.ValueKind.ToString(),
    };

    static string Short(JsonElement e)
    {
        var raw = e.GetRawText();
        return raw.Length <= 60 ? raw : raw[..57] + "...";
    }
}
