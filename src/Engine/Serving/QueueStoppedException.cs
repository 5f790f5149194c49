namespace XDit.Engine.Serving;

/// <summary>The request was still waiting when the service shut down, so it never ran.</summary>
public sealed class QueueStoppedException : Exception
{
    public QueueStoppedException() : base("the service is shutting down; the request was not run") { }
}
