using XDit.Engine.Pipelines;

namespace XDit.Engine.Serving;

/// <summary>
/// A request taken by the queue. Completion ends with the result, with the generator's exception, as cancelled
/// (its token fired), with QueueStoppedException (shutdown) or RequestDeadlineException (it ran too long).
/// </summary>
public sealed class QueueTicket
{
    readonly TaskCompletionSource<ServedGeneration> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal QueueTicket(long id, GenerationRequest request, DateTime enqueuedUtc, CancellationToken cancel)
    {
        Cancel = cancel;
        Id = id;
        Request = request;
        EnqueuedUtc = enqueuedUtc;
    }

    /// <summary>1, 2, 3, ... in the order requests were accepted.</summary>
    public long Id { get; }
    public GenerationRequest Request { get; }
    public DateTime EnqueuedUtc { get; }
    public Task<ServedGeneration> Completion => _done.Task;
    /// <summary>The client's token: it drops the request while it waits and cancels it while it runs.</summary>
    public CancellationToken Cancel { get; }

    internal LinkedListNode<QueueTicket>? Node { get; set; }
    internal CancellationTokenRegistration Registration { get; set; }
    internal System.Diagnostics.Stopwatch Waiting { get; } = System.Diagnostics.Stopwatch.StartNew();

    internal bool TrySetResult(ServedGeneration r) => _done.TrySetResult(r);
    internal bool TrySetException(Exception e) => _done.TrySetException(e);
    internal bool TrySetCanceled(CancellationToken token) => _done.TrySetCanceled(token);
}
