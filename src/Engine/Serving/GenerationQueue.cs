using System.Diagnostics;
using XDit.Engine.Pipelines;

namespace XDit.Engine.Serving;

/// <summary>
/// A bounded first-in first-out queue of generation requests served by one worker thread, in order, because a
/// pipeline is not thread-safe. Capacity counts the requests waiting, not the one running: with capacity 1 one
/// request runs, one waits, and a third is refused. TryEnqueue never blocks (the HTTP listener must stay free to
/// answer 429 and /health). A request whose token (its client's connection) fires while it waits leaves the queue;
/// once running, the token, a stop of the queue and the per-request deadline end it between denoising steps. An
/// exception in one request fails that request only.
/// </summary>
public sealed class GenerationQueue : IDisposable
{
    readonly IImageGenerator _generator;
    readonly object _lock = new();
    readonly LinkedList<QueueTicket> _waiting = new();
    readonly Thread _worker;
    readonly TaskCompletionSource _workerDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly CancellationTokenSource _stopped = new();
    long _nextId, _served, _failed, _rejected, _cancelled;
    double _runMsTotal, _queueMsTotal;
    bool _stopping, _busy;

    public GenerationQueue(IImageGenerator generator, int capacity)
    {
        if (capacity < 1) throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "the queue size must be at least 1");
        _generator = generator;
        Capacity = capacity;
        _worker = new Thread(WorkLoop) { IsBackground = true, Name = "xdit-serve-worker" };
        _worker.Start();
    }

    public int Capacity { get; }
    public IImageGenerator Generator => _generator;

    /// <summary>The longest one request may run before it is cancelled (null: no deadline). Set before serving.</summary>
    public TimeSpan? RequestDeadline { get; init; }

    /// <summary>Raised on the caller's thread when a request has been accepted into the queue.</summary>
    public event EventHandler<QueueTicket>? Enqueued;
    /// <summary>Raised on the worker thread just before a request runs.</summary>
    public event EventHandler<QueueTicket>? Started;
    /// <summary>Raised on the worker thread after a request ran (its Completion is already set).</summary>
    public event EventHandler<QueueTicket>? Finished;
    /// <summary>Raised when a waiting request leaves the queue without running (token fired or shutdown).</summary>
    public event EventHandler<QueueTicket>? Dropped;

    public int Length { get { lock (_lock) return _waiting.Count; } }
    public bool Busy { get { lock (_lock) return _busy; } }
    public bool Accepting { get { lock (_lock) return !_stopping; } }

    public QueueMetrics Metrics
    {
        get
        {
            lock (_lock)
            {
                long ran = _served + _failed;
                return new QueueMetrics(_served, _failed, _rejected, _cancelled,
                    ran == 0 ? 0 : _runMsTotal / ran, ran == 0 ? 0 : _queueMsTotal / ran, _waiting.Count, _busy);
            }
        }
    }

    /// <summary>Ends when the worker has exited (after StopAsync, once the request in flight is done).</summary>
    public Task WorkerDone => _workerDone.Task;

    /// <summary>Takes the request if there is room; never waits. The token (the client's connection) drops it while it waits.</summary>
    public EnqueueOutcome TryEnqueue(GenerationRequest request, CancellationToken cancel, out QueueTicket? ticket)
    {
        ticket = null;
        lock (_lock)
        {
            if (_stopping) { _rejected++; return EnqueueOutcome.Stopped; }
            if (_waiting.Count >= Capacity) { _rejected++; return EnqueueOutcome.Full; }
            ticket = new QueueTicket(++_nextId, request, DateTime.UtcNow, cancel);
            ticket.Node = _waiting.AddLast(ticket);
            Monitor.Pulse(_lock);
        }
        // Registered outside the lock: an already-cancelled token runs the callback here, synchronously.
        var t = ticket;
        Enqueued?.Invoke(this, t);
        if (cancel.CanBeCanceled)
        {
            var registration = cancel.Register(() => Drop(t, cancel));
            bool stillWaiting;
            // The worker may have taken the ticket meanwhile; the registration is handed over under the lock.
            lock (_lock)
            {
                stillWaiting = t.Node is not null;
                if (stillWaiting) t.Registration = registration;
            }
            if (!stillWaiting) registration.Unregister();
        }
        return EnqueueOutcome.Accepted;
    }

    void Drop(QueueTicket ticket, CancellationToken token)
    {
        lock (_lock)
        {
            if (ticket.Node?.List is null) return; // already running or finished
            _waiting.Remove(ticket.Node);
            ticket.Node = null;
            _cancelled++;
        }
        ticket.TrySetCanceled(token);
        Dropped?.Invoke(this, ticket);
    }

    /// <summary>
    /// Stops taking requests, drops those still waiting (they end with QueueStoppedException), cancels the request in
    /// flight (it ends after its current step, with QueueStoppedException) and returns when it has ended.
    /// </summary>
    public Task StopAsync()
    {
        try { _stopped.Cancel(); }
        catch (ObjectDisposedException) { }
        List<QueueTicket> dropped;
        var registrations = new List<CancellationTokenRegistration>();
        lock (_lock)
        {
            _stopping = true;
            dropped = _waiting.ToList();
            foreach (var t in dropped) { t.Node = null; registrations.Add(t.Registration); }
            _waiting.Clear();
            _cancelled += dropped.Count;
            Monitor.PulseAll(_lock);
        }
        foreach (var r in registrations) r.Unregister();
        foreach (var t in dropped)
        {
            t.TrySetException(new QueueStoppedException());
            Dropped?.Invoke(this, t);
        }
        return _workerDone.Task;
    }

    void WorkLoop()
    {
        try
        {
            while (true)
            {
                QueueTicket ticket;
                CancellationTokenRegistration registration;
                lock (_lock)
                {
                    while (_waiting.Count == 0 && !_stopping) Monitor.Wait(_lock);
                    if (_waiting.Count == 0) return; // stopping and nothing left
                    ticket = _waiting.First!.Value;
                    _waiting.RemoveFirst();
                    ticket.Node = null;
                    registration = ticket.Registration;
                    _busy = true;
                }
                // Unregister does not wait for a callback in progress (Dispose would, and could deadlock on the lock);
                // a late callback finds the ticket out of the list and does nothing.
                registration.Unregister();
                Run(ticket);
            }
        }
        finally { _workerDone.TrySetResult(); }
    }

    void Run(QueueTicket ticket)
    {
        var queueWait = ticket.Waiting.Elapsed;
        var sw = Stopwatch.StartNew();
        bool ok = false;
        // The client's token, the queue's stop and the deadline: whichever fires first ends the run between steps.
        using var deadline = new CancellationTokenSource();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ticket.Cancel, _stopped.Token, deadline.Token);
        if (RequestDeadline is { } limit) deadline.CancelAfter(limit);
        try
        {
            Started?.Invoke(this, ticket);
            var result = _generator.Generate(ticket.Request, linked.Token);
            ok = true;
            Account(Outcome.Served, sw.Elapsed, queueWait);
            ticket.TrySetResult(new ServedGeneration(result, queueWait, sw.Elapsed));
        }
        catch (OperationCanceledException) when (linked.IsCancellationRequested && !ok)
        {
            Account(Outcome.Cancelled, sw.Elapsed, queueWait);
            if (ticket.Cancel.IsCancellationRequested) ticket.TrySetCanceled(ticket.Cancel);
            else if (_stopped.IsCancellationRequested) ticket.TrySetException(new QueueStoppedException(running: true));
            else ticket.TrySetException(new RequestDeadlineException(RequestDeadline!.Value));
        }
        catch (Exception e)
        {
            if (!ok) Account(Outcome.Failed, sw.Elapsed, queueWait);
            ticket.TrySetException(e);
        }
        try { Finished?.Invoke(this, ticket); }
        catch (Exception) { /* a faulty observer must not stop the worker */ }
    }

    enum Outcome { Served, Failed, Cancelled }

    void Account(Outcome outcome, TimeSpan run, TimeSpan wait)
    {
        lock (_lock)
        {
            switch (outcome)
            {
                case Outcome.Served: _served++; break;
                case Outcome.Failed: _failed++; break;
                default: _cancelled++; break;
            }
            _runMsTotal += run.TotalMilliseconds;
            _queueMsTotal += wait.TotalMilliseconds;
            _busy = false;
        }
    }

    /// <summary>Stops (dropping waiting requests) without waiting for the request in flight; the generator is not disposed here.</summary>
    public void Dispose() => _ = StopAsync();
}
