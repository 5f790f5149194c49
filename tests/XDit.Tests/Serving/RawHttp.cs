using System.Net.Sockets;
using System.Text;

namespace XDit.Tests.Serving;

/// <summary>A client that writes exactly the bytes a test asks for (a short body, half a header, invalid UTF-8) and
/// reads the answer until the server closes: what HttpClient will not send.</summary>
sealed class RawHttp : IDisposable
{
    readonly Socket _socket = new(SocketType.Stream, ProtocolType.Tcp);

    public static async Task<RawHttp> ConnectAsync(Uri address)
    {
        var c = new RawHttp();
        await c._socket.ConnectAsync(address.Host, address.Port, TestContext.Current.CancellationToken);
        return c;
    }

    public Task SendAsync(string text) => SendAsync(Encoding.UTF8.GetBytes(text));

    public async Task SendAsync(byte[] bytes) => await _socket.SendAsync(bytes, SocketFlags.None, TestContext.Current.CancellationToken);

    /// <summary>A POST /generate head announcing <paramref name="contentLength"/> bytes, then <paramref name="body"/>.</summary>
    public Task PostAsync(byte[] body, long contentLength) => SendAsync(
        Encoding.ASCII.GetBytes($"POST /generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {contentLength}\r\n\r\n")
            .Concat(body).ToArray());

    /// <summary>Ends the sending side: the server reads end-of-stream, and this client can still read the answer.</summary>
    public void EndSending() => _socket.Shutdown(SocketShutdown.Send);

    /// <summary>The status code and body of the answer (read until the server closes).</summary>
    public async Task<(int Status, string Body)> ReadAnswerAsync()
    {
        var all = new MemoryStream();
        var buffer = new byte[4096];
        int read;
        while ((read = await _socket.ReceiveAsync(buffer, SocketFlags.None, TestContext.Current.CancellationToken)) > 0) all.Write(buffer, 0, read);
        var text = Encoding.UTF8.GetString(all.ToArray());
        Assert.StartsWith("HTTP/1.1 ", text);
        int headEnd = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        return (int.Parse(text.AsSpan(9, 3)), headEnd < 0 ? "" : text[(headEnd + 4)..]);
    }

    public void Dispose() => _socket.Dispose();
}
