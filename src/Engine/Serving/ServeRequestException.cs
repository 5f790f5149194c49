namespace XDit.Engine.Serving;

/// <summary>A request body the service refuses (HTTP 400): names the JSON field at fault, or null for the body as a whole.</summary>
public sealed class ServeRequestException(string? field, string message) : Exception(message)
{
    public string? Field { get; } = field;
}
