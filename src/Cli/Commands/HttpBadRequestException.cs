namespace XDit.Cli.Commands;

/// <summary>A request the service cannot read (400, 408, 411, 413, 431, ...): answered with this status and message,
/// then the connection closes.</summary>
public sealed class HttpBadRequestException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
}
