namespace XDit.Engine.Serving;

/// <summary>Why a request was or was not taken by the queue.</summary>
public enum EnqueueOutcome
{
    Accepted,
    /// <summary>The bounded queue holds as many waiting requests as it may (HTTP 429).</summary>
    Full,
    /// <summary>The queue is shutting down (HTTP 503).</summary>
    Stopped,
}
