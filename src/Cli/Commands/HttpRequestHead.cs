namespace XDit.Cli.Commands;

/// <summary>The request line and headers of one HTTP/1.1 request (header names lower-cased, the last one of a name wins
/// except Content-Length, which must not repeat).</summary>
public sealed record HttpRequestHead(string Method, string Path, IReadOnlyDictionary<string, string> Headers)
{
    public string? Header(string name) => Headers.TryGetValue(name, out var v) ? v : null;
}
