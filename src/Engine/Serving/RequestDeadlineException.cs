namespace XDit.Engine.Serving;

/// <summary>The request ran longer than the service's per-request deadline and was cancelled between steps (HTTP 504).</summary>
public sealed class RequestDeadlineException(TimeSpan deadline)
    : Exception($"the request ran longer than the service's deadline of {deadline.TotalSeconds:0.###} s (xdit serve --request-timeout) and was cancelled")
{
    public TimeSpan Deadline { get; } = deadline;
}
