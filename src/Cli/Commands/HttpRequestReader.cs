using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace XDit.Cli.Commands;

/// <summary>
/// Reads one HTTP/1.1 request from a connection within bounds: the head must arrive whole within the header timeout
/// and fit in <see cref="MaxHeadBytes"/>; the body must be announced by Content-Length (no chunked bodies), fit in
/// the body limit and arrive whole within the body timeout. A client that sends less than it announced gets 400, a
/// slow one 408, so no connection holds the service's resources for long. Bytes past the head are kept for the body.
/// </summary>
public sealed class HttpRequestReader(Stream stream)
{
    /// <summary>Request line and headers together: a curl or OpenAI-client request needs well under 1 KiB.</summary>
    public const int MaxHeadBytes = 16 * 1024;

    readonly byte[] _buffer = new byte[MaxHeadBytes];
    int _filled, _headEnd;

    /// <summary>The head, or null when the client closed the connection before sending a byte.</summary>
    public async Task<HttpRequestHead?> ReadHeadAsync(TimeSpan timeout, CancellationToken closing)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(closing);
        cts.CancelAfter(timeout);
        try
        {
            while (true)
            {
                int end = IndexOfHeadEnd(_buffer.AsSpan(0, _filled));
                if (end >= 0) { _headEnd = end + 4; break; }
                if (_filled == _buffer.Length) throw new HttpBadRequestException(431, $"the request line and headers are larger than {MaxHeadBytes} bytes");
                int read = await stream.ReadAsync(_buffer.AsMemory(_filled), cts.Token);
                if (read == 0)
                {
                    if (_filled == 0) return null;
                    throw new HttpBadRequestException(400, "the connection closed in the middle of the request headers");
                }
                _filled += read;
            }
        }
        catch (OperationCanceledException) when (!closing.IsCancellationRequested)
        {
            throw new HttpBadRequestException(408, $"the request headers did not arrive within {timeout.TotalSeconds:0.###} s");
        }
        return Parse(Encoding.Latin1.GetString(_buffer, 0, _headEnd - 4));
    }

    static int IndexOfHeadEnd(ReadOnlySpan<byte> data) => data.IndexOf("\r\n\r\n"u8);

    static HttpRequestHead Parse(string head)
    {
        var lines = head.Split("\r\n");
        var parts = lines[0].Split(' ');
        if (parts.Length != 3 || parts[0].Length == 0 || !parts[2].StartsWith("HTTP/1.", StringComparison.Ordinal))
            throw new HttpBadRequestException(400, "malformed request line (expected METHOD PATH HTTP/1.1)");
        var headers = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in lines.Skip(1))
        {
            int colon = line.IndexOf(':');
            if (colon <= 0 || line[..colon].Any(c => c is ' ' or '\t' || c < 0x21 || c > 0x7e))
                throw new HttpBadRequestException(400, "malformed header line");
            var name = line[..colon].ToLowerInvariant();
            var value = line[(colon + 1)..].Trim(' ', '\t');
            if (name == "content-length" && headers.ContainsKey(name)) throw new HttpBadRequestException(400, "Content-Length is given twice");
            headers[name] = value;
        }
        var target = parts[1];
        int query = target.IndexOfAny(['?', '#']);
        var path = query >= 0 ? target[..query] : target;
        if (Uri.TryCreate(path, UriKind.Absolute, out var absolute) && absolute.Scheme is "http" or "https") path = absolute.AbsolutePath;
        return new HttpRequestHead(parts[0], path, headers);
    }

    /// <summary>The body, exactly as long as Content-Length says (0 when the request has none and needs none).</summary>
    /// <param name="sendContinue">called before reading when the client waits for "100 Continue" (curl does for larger bodies)</param>
    public async Task<byte[]> ReadBodyAsync(HttpRequestHead head, long maxBytes, TimeSpan timeout, Func<Task> sendContinue, CancellationToken closing)
    {
        if (head.Header("transfer-encoding") is { } te)
            throw new HttpBadRequestException(te.Contains("chunked", StringComparison.OrdinalIgnoreCase) ? 411 : 400,
                $"Transfer-Encoding {te} is not accepted; send the body with a Content-Length");
        if (head.Header("content-length") is not { } cl) return head.Method == "POST" ? throw new HttpBadRequestException(411, "a POST needs a Content-Length") : [];
        if (!long.TryParse(cl, NumberStyles.None, CultureInfo.InvariantCulture, out long length))
            throw new HttpBadRequestException(400, $"Content-Length must be a non-negative integer, got \"{cl}\"");
        if (length > maxBytes) throw new HttpBadRequestException(413, $"the request body is larger than {maxBytes} bytes ({length}); the service's limit is `xdit serve --max-body`");
        if (string.Equals(head.Header("expect"), "100-continue", StringComparison.OrdinalIgnoreCase)) await sendContinue();

        var body = new byte[length];
        int have = Math.Min(_filled - _headEnd, (int)length);
        _buffer.AsSpan(_headEnd, have).CopyTo(body);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(closing);
        cts.CancelAfter(timeout);
        try
        {
            while (have < length)
            {
                int read = await stream.ReadAsync(body.AsMemory(have), cts.Token);
                if (read == 0) throw new HttpBadRequestException(400, $"the body ended after {have} of the {length} bytes its Content-Length announced");
                have += read;
            }
        }
        catch (OperationCanceledException) when (!closing.IsCancellationRequested)
        {
            throw new HttpBadRequestException(400, $"the body is shorter than its Content-Length: {have} of {length} bytes arrived within {timeout.TotalSeconds:0.###} s");
        }
        catch (IOException e) when (e.InnerException is SocketException)
        {
            throw new HttpBadRequestException(400, $"the connection failed after {have} of the {length} body bytes");
        }
        return body;
    }
}
