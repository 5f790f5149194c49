using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace XDit.Tests.Runtime;

/// <summary>
/// Test-side safetensors helpers written independently of the runtime's reader: build files from a hand-written
/// header, and split a file into (dtype, shape, bytes) per tensor with plain System.Text.Json.
/// </summary>
public static class RawSafetensors
{
    /// <summary>8-byte length + the header text as given (no padding) + <paramref name="dataBytes"/> bytes of data.</summary>
    public static byte[] Build(string headerJson, int dataBytes)
    {
        var header = Encoding.UTF8.GetBytes(headerJson);
        return Build(header, dataBytes);
    }

    public static byte[] Build(byte[] header, int dataBytes, ulong? declaredHeaderLength = null)
    {
        var bytes = new byte[8 + header.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredHeaderLength ?? (ulong)header.Length);
        header.CopyTo(bytes, 8);
        for (int i = 0; i < dataBytes; i++) bytes[8 + header.Length + i] = (byte)(i * 7 + 1);
        return bytes;
    }

    public static string WriteTemp(byte[] bytes, string name = "t.safetensors")
    {
        var path = Path.Combine(TestPaths.TempDir(), name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    public sealed record Entry(string DType, int[] Shape, byte[] Bytes);

    public static (Dictionary<string, Entry> Tensors, Dictionary<string, string> Metadata, int HeaderLength) Parse(byte[] file)
    {
        int n = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(file));
        using var doc = JsonDocument.Parse(file.AsMemory(8, n));
        var tensors = new Dictionary<string, Entry>();
        var meta = new Dictionary<string, string>();
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Name == "__metadata__") { foreach (var m in p.Value.EnumerateObject()) meta[m.Name] = m.Value.GetString()!; continue; }
            var off = p.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            tensors[p.Name] = new Entry(p.Value.GetProperty("dtype").GetString()!,
                p.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                file.AsSpan(8 + n + off[0], off[1] - off[0]).ToArray());
        }
        return (tensors, meta, n);
    }
}
