namespace XDit.Comm;

/// <summary>A blocked or later communication call on a rank whose world was aborted because another rank failed.</summary>
public sealed class CommAbortedException : Exception
{
    public CommAbortedException(string message, Exception? cause) : base(message, cause) { }
}

/// <summary>A blocking wait that outlived the world's timeout: some ranks never made the matching call.</summary>
public sealed class CommTimeoutException : TimeoutException
{
    public CommTimeoutException(string message) : base(message) { }
}
