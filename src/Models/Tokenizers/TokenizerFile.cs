using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace XDit.Models.Tokenizers;

/// <summary>
/// Reads a tokenizer's vocabulary file (tokenizer.json, vocab.json, merges.txt, vocab.txt, spiece.model,
/// tokenizer.model) whole, decompressing it first where it is gzip-compressed under its own name: its bytes begin with
/// gzip's magic 1f 8b, with which no JSON, text or SentencePiece protobuf begins. XDit's pipeline test fixtures link
/// their tokenizer files to such compressed copies (tests/fixtures/tokenizers/README.md), because everything they hold
/// travels to a lent GPU machine under a size cap; a folder from the Hub reads as before.
/// </summary>
public static class TokenizerFile
{
    /// <summary>The file's bytes, decompressed where they are gzip's.</summary>
    public static byte[] ReadAllBytes(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 2 || bytes[0] != 0x1f || bytes[1] != 0x8b) return bytes;
        byte[] plain;
        try
        {
            using var gzip = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
            using var output = new MemoryStream();
            gzip.CopyTo(output);
            plain = output.ToArray();
        }
        catch (InvalidDataException e) { throw new InvalidDataException($"{path}: begins as gzip (1f 8b) but does not decompress: {e.Message}", e); }
        // GZipStream ends quietly at a cut: the trailer's last 4 bytes hold the plain length (mod 2^32) gzip wrote
        uint expected = bytes.Length >= 18 ? BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(bytes.Length - 4)) : uint.MaxValue;
        if (expected != (uint)plain.Length)
            throw new InvalidDataException($"{path}: begins as gzip (1f 8b) but is cut short or not one gzip member: {plain.Length} bytes decompressed, the trailer says {(bytes.Length >= 18 ? expected.ToString() : "none")}");
        return plain;
    }

    /// <summary>The file as text, as <see cref="File.ReadAllText(string)"/> reads it (UTF-8 unless a byte order mark
    /// says otherwise), decompressed where it is gzip's.</summary>
    public static string ReadAllText(string path)
    {
        using var reader = new StreamReader(new MemoryStream(ReadAllBytes(path)), Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return reader.ReadToEnd();
    }
}
