using System.Text;

namespace XDit.Engine.Serving;

/// <summary>One part of a multipart/form-data body: its field name, the file name when it is a file, its
/// Content-Type when given, and its bytes.</summary>
public sealed record MultipartPart(string Name, string? FileName, string? ContentType, byte[] Data)
{
    public bool IsFile => FileName is not null;

    /// <summary>The value of a text field (UTF-8, as RFC 7578 §5.1 makes the default).</summary>
    public string Text => Encoding.UTF8.GetString(Data);
}

/// <summary>
/// A small, strict reader of multipart/form-data bodies (RFC 7578 over RFC 2046 §5.1), what the OpenAI clients send
/// to POST /v1/images/edits. Hand-written because the BCL has no multipart parser outside ASP.NET Core
/// (Microsoft.AspNetCore.WebUtilities' MultipartReader), which this service, a TcpListener of its own, does not use.
/// The whole body is already in memory and bounded (--max-body), so it is read in one pass over a span.
/// Strict: the boundary comes from the Content-Type; every delimiter line is "--boundary" followed by CRLF (or "--"
/// for the last), a part's headers end with an empty line, each part has Content-Disposition: form-data with a name,
/// and the close delimiter must come; anything else is a <see cref="ServeRequestException"/> saying what was wrong
/// (the host answers 400). Transport padding (spaces or tabs) after a delimiter is allowed, as RFC 2046 allows.
/// </summary>
public static class MultipartFormData
{
    /// <summary>A text field's bound: a prompt is far shorter; files are bounded by the caller.</summary>
    public const int MaxFieldBytes = 64 * 1024;

    /// <summary>More parts than any image request has: a body of thousands of empty parts is refused early.</summary>
    public const int MaxParts = 64;

    /// <summary>The boundary of a "multipart/form-data; boundary=..." Content-Type.</summary>
    public static string Boundary(string? contentType)
    {
        if (contentType is null) throw new ServeRequestException(null, "the body must be multipart/form-data (no Content-Type given)");
        var pieces = contentType.Split(';');
        if (!pieces[0].Trim().Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase))
            throw new ServeRequestException(null, $"the body must be multipart/form-data, got Content-Type \"{pieces[0].Trim()}\"");
        foreach (var piece in pieces.Skip(1))
        {
            int eq = piece.IndexOf('=');
            if (eq < 0 || !piece[..eq].Trim().Equals("boundary", StringComparison.OrdinalIgnoreCase)) continue;
            var value = piece[(eq + 1)..].Trim();
            if (value.Length >= 2 && value[0] == '"' && value[^1] == '"') value = value[1..^1];
            // RFC 2046: 1 to 70 characters, the last not a space.
            if (value.Length is < 1 or > 70 || value[^1] == ' ' || value.Any(c => c < 0x20 || c > 0x7e))
                throw new ServeRequestException(null, $"the multipart boundary must be 1 to 70 printable ASCII characters, not ending in a space, got \"{value}\"");
            return value;
        }
        throw new ServeRequestException(null, "the multipart/form-data Content-Type has no boundary parameter");
    }

    /// <summary>The parts of <paramref name="body"/>, in order.</summary>
    /// <param name="maxFileBytes">the bound on a file part (the service passes its body limit)</param>
    public static IReadOnlyList<MultipartPart> Parse(ReadOnlySpan<byte> body, string? contentType, long maxFileBytes)
    {
        var boundary = Encoding.ASCII.GetBytes("--" + Boundary(contentType));
        // Every delimiter after the first is preceded by CRLF, which belongs to it, not to the part before.
        var delimiter = new byte[boundary.Length + 2];
        "\r\n"u8.CopyTo(delimiter);
        boundary.CopyTo(delimiter.AsSpan(2));

        // A preamble, if any, ends with CRLF before the first delimiter (RFC 2046); usually the body starts with it.
        int at;
        if (body.StartsWith(boundary)) at = boundary.Length;
        else
        {
            int first = body.IndexOf(delimiter);
            if (first < 0) throw new ServeRequestException(null, "the multipart body holds no delimiter line of the Content-Type's boundary");
            at = first + delimiter.Length;
        }

        var parts = new List<MultipartPart>();
        while (true)
        {
            // After a delimiter: "--" closes the body, else optional padding and CRLF begin a part.
            var rest = body[at..];
            if (rest.StartsWith("--"u8)) return parts; // the epilogue, if any, is ignored (RFC 2046)
            int pad = 0;
            while (pad < rest.Length && rest[pad] is (byte)' ' or (byte)'\t') pad++;
            if (!rest[pad..].StartsWith("\r\n"u8))
                throw new ServeRequestException(null, rest.Length == pad
                    ? "the multipart body is truncated: it ends after a delimiter without the closing \"--boundary--\""
                    : "malformed multipart body: a delimiter line must end with CRLF (or \"--\" for the last one)");
            at += pad + 2;
            if (parts.Count == MaxParts) throw new ServeRequestException(null, $"the multipart body has more than {MaxParts} parts");

            rest = body[at..];
            int headEnd = rest.StartsWith("\r\n"u8) ? 0 : rest.IndexOf("\r\n\r\n"u8);
            if (headEnd < 0) throw new ServeRequestException(null, $"the multipart body is truncated: part {parts.Count + 1}'s headers never end (no empty line)");
            var headers = Headers(Encoding.UTF8.GetString(rest[..headEnd]), parts.Count + 1);
            int dataStart = at + headEnd + (headEnd == 0 ? 2 : 4);

            int length = body[dataStart..].IndexOf(delimiter);
            if (length < 0) throw new ServeRequestException(null, $"the multipart body is truncated: part {parts.Count + 1} has no delimiter after it (the body ends inside it)");
            var part = Part(headers, body.Slice(dataStart, length), parts.Count + 1, maxFileBytes);
            parts.Add(part);
            at = dataStart + length + delimiter.Length;
        }
    }

    static Dictionary<string, string> Headers(string text, int index)
    {
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (text.Length == 0) return headers;
        foreach (var line in text.Split("\r\n"))
        {
            int colon = line.IndexOf(':');
            if (colon <= 0 || line[..colon].Any(c => c <= ' ' || c > '~'))
                throw new ServeRequestException(null, $"malformed multipart body: part {index} has a header line that is not \"Name: value\"");
            if (!headers.TryAdd(line[..colon], line[(colon + 1)..].Trim(' ', '\t')))
                throw new ServeRequestException(null, $"malformed multipart body: part {index} gives the header {line[..colon]} twice");
        }
        return headers;
    }

    static MultipartPart Part(Dictionary<string, string> headers, ReadOnlySpan<byte> data, int index, long maxFileBytes)
    {
        if (!headers.TryGetValue("content-disposition", out var disposition))
            throw new ServeRequestException(null, $"malformed multipart body: part {index} has no Content-Disposition header");
        var (type, parameters) = Disposition(disposition, index);
        if (!type.Equals("form-data", StringComparison.OrdinalIgnoreCase))
            throw new ServeRequestException(null, $"malformed multipart body: part {index}'s Content-Disposition must be form-data, got \"{type}\"");
        if (!parameters.TryGetValue("name", out var name) || name.Length == 0)
            throw new ServeRequestException(null, $"malformed multipart body: part {index}'s Content-Disposition has no name");
        parameters.TryGetValue("filename", out var fileName);
        long bound = fileName is null ? MaxFieldBytes : maxFileBytes;
        if (data.Length > bound)
            throw new ServeRequestException(name, fileName is null
                ? $"the form field {name} is {data.Length} bytes, over the {MaxFieldBytes} a text field may have"
                : $"the file in {name} is {data.Length} bytes, over the {bound} a file part may have");
        headers.TryGetValue("content-type", out var contentType);
        return new MultipartPart(name, fileName, contentType, data.ToArray());
    }

    /// <summary>"form-data; name=\"image\"; filename=\"cat.png\"": the type and its parameters (tokens or quoted
    /// strings; a backslash escapes the next character in a quoted string).</summary>
    static (string Type, Dictionary<string, string> Parameters) Disposition(string value, int index)
    {
        var parameters = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        int semi = value.IndexOf(';');
        var type = (semi < 0 ? value : value[..semi]).Trim();
        int i = semi < 0 ? value.Length : semi + 1;
        while (i < value.Length)
        {
            while (i < value.Length && value[i] is ' ' or '\t') i++;
            int eq = value.IndexOf('=', i);
            if (eq < 0) throw new ServeRequestException(null, $"malformed multipart body: part {index}'s Content-Disposition has a parameter without '='");
            var key = value[i..eq].Trim();
            i = eq + 1;
            var text = new StringBuilder();
            if (i < value.Length && value[i] == '"')
            {
                i++;
                while (true)
                {
                    if (i >= value.Length) throw new ServeRequestException(null, $"malformed multipart body: part {index}'s Content-Disposition has an unclosed quoted string");
                    char c = value[i++];
                    if (c == '"') break;
                    if (c == '\\' && i < value.Length) c = value[i++];
                    text.Append(c);
                }
                while (i < value.Length && value[i] is ' ' or '\t') i++;
            }
            else
            {
                int end = value.IndexOf(';', i);
                if (end < 0) end = value.Length;
                text.Append(value[i..end].Trim());
                i = end;
            }
            if (i < value.Length && value[i] != ';') throw new ServeRequestException(null, $"malformed multipart body: part {index}'s Content-Disposition has text after the value of {key}");
            i++;
            if (!parameters.TryAdd(key, text.ToString())) throw new ServeRequestException(null, $"malformed multipart body: part {index}'s Content-Disposition gives {key} twice");
        }
        return (type, parameters);
    }
}
