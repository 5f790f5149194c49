using System.Buffers.Binary;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace XDit.Runtime;

/// <summary>
/// Writes named host tensors (any dtype, strided views included) as a .safetensors file: u64 little-endian header
/// length, JSON header (`__metadata__` first when given, then the tensors), padded with spaces to a multiple of
/// 8 bytes as the reference writer does so that the data area starts aligned, then the tensors' bytes in the order
/// given.
/// </summary>
public static class SafetensorsWriter
{
    /// <summary>Writes the file through a temporary sibling and a rename, so a failed write leaves no half file.</summary>
    public static void Write(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var tmp = path + ".tmp-" + Environment.ProcessId + "-" + Environment.CurrentManagedThreadId;
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
                Write(fs, tensors, metadata);
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    /// <summary>The whole file as bytes.</summary>
    public static byte[] ToBytes(IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var ms = new MemoryStream();
        Write(ms, tensors, metadata);
        return ms.ToArray();
    }

    public static void Write(Stream output, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, t) in list)
        {
            if (name == "__metadata__") throw new ArgumentException("'__metadata__' is reserved and cannot name a tensor", nameof(tensors));
            if (!seen.Add(name)) throw new ArgumentException($"tensor '{name}' is given twice", nameof(tensors));
            if (t.Storage is not HostStorage) throw new ArgumentException($"tensor '{name}' is not on the host; download it first", nameof(tensors));
        }

        var header = Header(list, metadata);
        int pad = (8 - header.Length % 8) % 8;
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)(header.Length + pad));
        output.Write(len);
        output.Write(header);
        for (int i = 0; i < pad; i++) output.WriteByte((byte)' ');
        foreach (var (_, t) in list) WriteData(output, t);
    }

    static byte[] Header(List<KeyValuePair<string, Tensor>> list, IReadOnlyDictionary<string, string>? metadata)
    {
        var ms = new MemoryStream();
        // Names are written as UTF-8, not \u-escaped, like the reference writer.
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, t) in list)
            {
                w.WriteStartObject(name);
                w.WriteString("dtype", t.DType.SafetensorsName());
                w.WriteStartArray("shape");
                foreach (var d in t.ShapeSpan) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                offset += t.ByteCount;
                w.WriteNumberValue(offset);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        return ms.ToArray();
    }

    /// <summary>Writes a host tensor's elements in row-major order; strided views are gathered element by element.</summary>
    static void WriteData(Stream output, Tensor t)
    {
        var bytes = ((HostStorage)t.Storage).Bytes;
        int size = t.DType.SizeOf();
        if (t.IsContiguous)
        {
            output.Write(bytes, checked((int)(t.Offset * size)), checked((int)t.ByteCount));
            return;
        }
        var strides = t.Strides.ToArray();
        var shape = t.Dims;
        var idx = new int[t.Rank];
        for (long n = 0; n < t.NumElements; n++)
        {
            long off = t.Offset;
            for (int i = 0; i < idx.Length; i++) off += idx[i] * strides[i];
            output.Write(bytes, checked((int)(off * size)), size);
            for (int i = idx.Length - 1; i >= 0; i--) { if (++idx[i] < shape[i]) break; idx[i] = 0; }
        }
    }
}
