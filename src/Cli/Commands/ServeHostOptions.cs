using XDit.Engine.Pipelines;
using XDit.Engine.Serving;

namespace XDit.Cli.Commands;

/// <summary>What one connection and one request may hold of the service: time to send the request, bytes, open
/// connections, work (the generation limits) and where files may be written.</summary>
public sealed record ServeHostOptions
{
    /// <summary>The request line and headers must arrive within this (a slow or idle connection is closed with 408).</summary>
    public TimeSpan HeaderTimeout { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>The body must arrive within this after the headers (else 400: shorter than its Content-Length).</summary>
    public TimeSpan BodyTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Connections open at once; one more is answered 503 and closed at once.</summary>
    public int MaxConnections { get; init; } = 64;
    /// <summary>A /generate body larger than this is refused (413): the JSON holds a prompt and a few numbers, or an
    /// image to edit in base64 (`xdit serve --max-body`).</summary>
    public long MaxBodyBytes { get; init; } = 1 << 20;
    /// <summary>Bounds of one request, checked before it is queued (400 naming the field).</summary>
    public GenerationLimits Limits { get; init; } = ServeRequest.DefaultLimits;
    /// <summary>The only folder output_type "path" may write under (null: the service writes no files).</summary>
    public string? OutputDir { get; init; }

    public void Validate()
    {
        if (HeaderTimeout <= TimeSpan.Zero || BodyTimeout <= TimeSpan.Zero) throw new ArgumentException("the header and body timeouts must be positive");
        if (MaxConnections < 1) throw new ArgumentException($"--max-connections must be at least 1, got {MaxConnections}");
        if (MaxBodyBytes < 1) throw new ArgumentException($"--max-body must be at least 1 byte, got {MaxBodyBytes}");
        Limits.Validate();
        if (OutputDir is { } dir && !Directory.Exists(dir)) throw new ArgumentException($"--output-dir: the folder {dir} does not exist");
    }
}
