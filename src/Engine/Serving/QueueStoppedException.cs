namespace XDit.Engine.Serving;

/// <summary>The service shut down while the request waited (it never ran) or while it ran (it was cancelled between steps).</summary>
public sealed class QueueStoppedException(bool running = false) : Exception(running
    ? "the service is shutting down; the request was cancelled while it ran"
    : "the service is shutting down; the request was not run")
{
    public bool WasRunning { get; } = running;
}
