using XDit.Engine.Pipelines;
using XDit.Engine.Serving;

namespace XDit.Tests.Serving;

/// <summary>The queue and its worker alone, with a gated fake generator: order, bound, cancellation, failures, stop.</summary>
public class GenerationQueueTests
{
    static GenerationRequest Req(string prompt, ulong seed = 1) => new() { Prompts = new[] { prompt }, Seed = seed };

    /// <summary>Completes when the queue raises Started for the given prompt.</summary>
    static Task StartedFor(GenerationQueue q, string prompt)
    {
        var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        q.Started += (_, t) => { if (t.Request.Prompts[0] == prompt) tcs.TrySetResult(); };
        return tcs.Task;
    }

    static QueueTicket Enqueue(GenerationQueue q, string prompt) => EnqueueCancellable(q, prompt, TestContext.Current.CancellationToken);

    static QueueTicket EnqueueCancellable(GenerationQueue q, string prompt, CancellationToken cancel)
    {
        Assert.Equal(EnqueueOutcome.Accepted, q.TryEnqueue(Req(prompt), cancel, out var t));
        return t!;
    }

    [Fact]
    public async Task RequestsRunOneAtATimeInTheOrderTheyCame()
    {
        using var gen = new GatedGenerator();
        using var q = new GenerationQueue(gen, capacity: 4);
        int running = 0, maxRunning = 0;
        q.Started += (_, _) => maxRunning = Math.Max(maxRunning, Interlocked.Increment(ref running));
        q.Finished += (_, _) => Interlocked.Decrement(ref running);
        var started = StartedFor(q, "a");
        var tickets = new List<QueueTicket> { Enqueue(q, "a") };
        await Within.Minute(started); // a runs; the four others fill the queue behind it
        tickets.AddRange(new[] { "b", "c", "d", "e" }.Select(p => Enqueue(q, p)));
        Assert.Equal(4, q.Length);
        Assert.True(q.Busy);
        gen.Open();
        var results = await Within.Minute(Task.WhenAll(tickets.Select(t => t.Completion)));
        Assert.Equal(new[] { "a", "b", "c", "d", "e" }, gen.Ran);
        Assert.Equal(new long[] { 1, 2, 3, 4, 5 }, tickets.Select(t => t.Id));
        Assert.Equal(1, maxRunning);
        Assert.All(results, r => Assert.Single(r.Result.Images));
        Assert.Equal(5, q.Metrics.Served);
    }

    [Fact]
    public async Task AFullQueueRefusesAtOnceAndTakesAgainWhenThereIsRoom()
    {
        using var gen = new GatedGenerator();
        using var q = new GenerationQueue(gen, capacity: 1);
        var started = StartedFor(q, "running");
        var running = Enqueue(q, "running");
        await Within.Minute(started); // the worker holds it: the queue itself is empty again
        var waiting = Enqueue(q, "waiting");
        Assert.Equal(EnqueueOutcome.Full, q.TryEnqueue(Req("refused"), TestContext.Current.CancellationToken, out var refused));
        Assert.Null(refused);
        Assert.Equal(1, q.Metrics.Rejected);
        gen.Open();
        await Within.Minute(Task.WhenAll(running.Completion, waiting.Completion));
        var later = Enqueue(q, "later");
        await Within.Minute(later.Completion);
        Assert.Equal(new[] { "running", "waiting", "later" }, gen.Ran);
    }

    [Fact]
    public async Task ACancelledWaitingRequestLeavesTheQueueAndNeverRuns()
    {
        using var gen = new GatedGenerator();
        using var q = new GenerationQueue(gen, capacity: 3);
        var dropped = new TaskCompletionSource<QueueTicket>(TaskCreationOptions.RunContinuationsAsynchronously);
        q.Dropped += (_, t) => dropped.TrySetResult(t);
        var started = StartedFor(q, "a");
        var a = Enqueue(q, "a");
        await Within.Minute(started);
        using var cts = new CancellationTokenSource();
        var b = EnqueueCancellable(q, "b", cts.Token);
        var c = Enqueue(q, "c");
        Assert.Equal(2, q.Length);
        cts.Cancel();
        Assert.Same(b, await Within.Minute(dropped.Task));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => b.Completion);
        Assert.Equal(1, q.Length);
        gen.Open();
        await Within.Minute(Task.WhenAll(a.Completion, c.Completion));
        Assert.Equal(new[] { "a", "c" }, gen.Ran);
        var m = q.Metrics;
        Assert.Equal((2L, 1L, 0L), (m.Served, m.Cancelled, m.Failed));
    }

    [Fact]
    public async Task AnAlreadyCancelledTokenDropsTheRequestBeforeItRuns()
    {
        using var gen = new GatedGenerator();
        using var q = new GenerationQueue(gen, capacity: 2);
        var started = StartedFor(q, "blocker");
        var blocker = Enqueue(q, "blocker");
        await Within.Minute(started);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var gone = EnqueueCancellable(q, "gone", cts.Token);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Within.Minute(gone.Completion));
        Assert.Equal(0, q.Length);
        gen.Open();
        await Within.Minute(Enqueue(q, "next").Completion);
        Assert.Equal(new[] { "blocker", "next" }, gen.Ran);
    }

    [Fact]
    public async Task AnExceptionFailsItsRequestOnlyAndTheWorkerGoesOn()
    {
        using var gen = new GatedGenerator(open: true);
        using var q = new GenerationQueue(gen, capacity: 4);
        var boom = Enqueue(q, "boom");
        var after = Enqueue(q, "after");
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => Within.Minute(boom.Completion));
        Assert.Contains("exploded", e.Message);
        var ok = await Within.Minute(after.Completion);
        Assert.Equal(1UL, ok.Result.Seed);
        var m = q.Metrics;
        Assert.Equal((1L, 1L), (m.Served, m.Failed));
        Assert.False(q.Busy);
    }

    [Fact]
    public async Task StopCancelsTheRequestInFlightAndRefusesTheRest()
    {
        using var gen = new GatedGenerator();
        using var q = new GenerationQueue(gen, capacity: 2);
        var started = StartedFor(q, "inflight");
        var inflight = Enqueue(q, "inflight");
        await Within.Minute(started);
        var waiting = Enqueue(q, "waiting");
        var stopped = q.StopAsync();
        await Assert.ThrowsAsync<QueueStoppedException>(() => Within.Minute(waiting.Completion));
        Assert.Equal(EnqueueOutcome.Stopped, q.TryEnqueue(Req("late"), TestContext.Current.CancellationToken, out _));
        Assert.False(q.Accepting);
        // The gate stays shut: only the stop's cancellation can end the request in flight.
        var e = await Assert.ThrowsAsync<QueueStoppedException>(() => Within.Minute(inflight.Completion));
        Assert.True(e.WasRunning);
        await Within.Minute(stopped);
        Assert.Equal(new[] { "inflight" }, gen.Ran);
        Assert.Equal((0L, 0L, 2L), (q.Metrics.Served, q.Metrics.Failed, q.Metrics.Cancelled));
    }

    [Fact]
    public void ACapacityBelowOneIsRefused()
    {
        using var gen = new GatedGenerator(open: true);
        Assert.Throws<ArgumentOutOfRangeException>(() => new GenerationQueue(gen, 0));
    }

    [Fact]
    public async Task ACancelledRunningRequestEndsCancelledAndTheWorkerTakesTheNext()
    {
        using var gen = new GatedGenerator();
        using var q = new GenerationQueue(gen, capacity: 2);
        using var client = new CancellationTokenSource();
        var started = StartedFor(q, "leaving");
        var leaving = EnqueueCancellable(q, "leaving", client.Token);
        await Within.Minute(started);
        var next = Enqueue(q, "next");
        client.Cancel(); // the client left while its request ran: the gate never opens for it
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Within.Minute(leaving.Completion));
        gen.Open();
        await Within.Minute(next.Completion);
        Assert.Equal(new[] { "leaving", "next" }, gen.Ran);
        Assert.Equal((1L, 1L), (q.Metrics.Served, q.Metrics.Cancelled));
    }

    [Fact]
    public async Task ARequestPastTheDeadlineIsCancelledWithTheDeadlineNamed()
    {
        using var gen = new GatedGenerator(); // never opened: only the deadline ends the run
        using var q = new GenerationQueue(gen, capacity: 1) { RequestDeadline = TimeSpan.FromMilliseconds(1) };
        var slow = Enqueue(q, "slow");
        var e = await Assert.ThrowsAsync<RequestDeadlineException>(() => Within.Minute(slow.Completion));
        Assert.Contains("--request-timeout", e.Message);
        Assert.Equal(1L, q.Metrics.Cancelled);
    }
}
