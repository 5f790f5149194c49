using XDit.Comm;
using XDit.Comm.Tcp;
using XDit.Runtime;

namespace XDit.Tests.Comm;

/// <summary>TcpCommunicator against InProcessWorld: the same script of every collective on random data gives the
/// same bits and the same traffic counters on both; a dead or silent peer fails the others with its name.</summary>
public class TcpCommunicatorTests
{
    public static TheoryData<int> Sizes => new(1, 2, 3, 4);

    static float[] Data(int rank, int n, int salt) => Numerics.Random(n, 7919 * salt + 31 * rank + 5);

    /// <summary>Every operation of the contract once or more; returns (shape, values) of every result in order.</summary>
    static List<(int[] Dims, float[] Values)> Script(ICommunicator c)
    {
        var ops = c.Ops;
        int n = c.Size, r = c.Rank;
        var outs = new List<(int[], float[])>();
        void Keep(Tensor t) { outs.Add((t.Dims, ops.ToHost(t))); }

        using (var t = ops.FromHost(Data(r, 7 * 5, 1), 7, 5)) { c.AllReduce(t); Keep(t); }               // odd length: uneven chunks
        using (var t = ops.FromHost(Data(r, 2 * (r + 1) * 3, 2), 2, r + 1, 3))                         // sizes differ along the axis
        using (var g = c.AllGather(t, 1)) Keep(g);
        using (var t = ops.FromHost(Data(r, 4 * 3, 3), 4, 3))
        using (var g = c.AllGather(t, -2)) Keep(g);
        using (var t = ops.FromHost(Data(r, 3 * 2 * n * 2, 4), 3, 2 * n, 2))
        using (var s = c.ReduceScatter(t, 1)) Keep(s);
        using (var x = ops.FromHost(Data(r, 2 * 3 * (2 * n) * 4, 5), 2, 3, 2 * n, 4))                  // Ulysses [B, S/P, H, d]
        {
            using var y = c.AllToAll(x, 2, 1);
            Keep(y);
            using var back = c.AllToAll(y, 1, 2);
            Keep(back);
        }
        for (int root = 0; root < n; root++)
            using (var t = ops.FromHost(Data(r, 6, 6 + root), 2, 3)) { c.Broadcast(t, root); Keep(t); }
        c.Barrier();

        // Point to point around the ring: two tags, the second sent first, two messages per tag in order.
        int next = (r + 1) % n, prev = (r + n - 1) % n;
        using (var a = ops.FromHost(Data(r, 4, 20), 4)) c.Send(a, next, tag: 1);
        using (var b = ops.FromHost(Data(r, 4, 21), 4)) c.Send(b, next, tag: 0);
        using (var b2 = ops.FromHost(Data(r, 2, 22), 1, 2)) c.Send(b2, next, tag: 0);
        using (var got0 = ops.Zeros(DType.F32, 4)) { c.Recv(got0, prev, tag: 0); Keep(got0); }
        using (var got0b = ops.Zeros(DType.F32, 1, 2)) { c.Recv(got0b, prev, tag: 0); Keep(got0b); }
        using (var got1 = ops.Zeros(DType.F32, 4)) { c.Recv(got1, prev, tag: 1); Keep(got1); }
        using (var send = ops.FromHost(Data(r, 5, 23), 5))
        using (var recv = ops.Zeros(DType.F32, 5))
        {
            var req = c.SendRecvAsync(send, next, recv, prev, tag: 7);
            req.Wait();
            Keep(recv);
        }

        // Sub-groups: even and odd ranks, then the reversed world; interleaved with a world collective.
        var evens = Enumerable.Range(0, n).Where(i => i % 2 == r % 2).ToArray();
        var sub = c.Split(evens);
        var reversed = c.Split(Enumerable.Range(0, n).Reverse().ToArray());
        using (var t = ops.FromHost(Data(r, 6, 30), 6)) { sub.AllReduce(t); Keep(t); }
        using (var t = ops.FromHost(Data(r, 3, 31), 3))
        using (var g = reversed.AllGather(t, 0)) Keep(g);
        using (var t = ops.FromHost(Data(r, 2, 32), 2)) { c.AllReduce(t); Keep(t); }
        using (var t = ops.FromHost(Data(r, 2 * sub.Size, 33), 2 * sub.Size))
        using (var s = sub.AllToAll(t, 0, 0)) Keep(s);
        if (sub.Size > 1)
        {
            using var m = ops.FromHost(Data(r, 3, 34), 3);
            sub.Send(m, (sub.Rank + 1) % sub.Size, tag: 5);
            using var got = ops.Zeros(DType.F32, 3);
            sub.Recv(got, (sub.Rank + sub.Size - 1) % sub.Size, tag: 5);
            Keep(got);
        }
        outs.Add(([sub.Rank, sub.Size, reversed.Rank], []));
        outs.Add(([.. c.WorldRanks, -1, .. sub.WorldRanks], []));
        c.Barrier();
        return outs;
    }

    [Theory, MemberData(nameof(Sizes))]
    public void EveryOperationMatchesInProcessBitForBit(int size)
    {
        var expect = InProcessWorld.Run(size, c => (Script(c), Counters(c.Stats)));
        var got = TcpTestWorld.Run(size, c => (Script(c), Counters(c.Stats)));
        for (int r = 0; r < size; r++)
        {
            var (e, eBytes) = expect[r];
            var (g, gBytes) = got[r];
            Assert.Equal(e.Count, g.Count);
            for (int i = 0; i < e.Count; i++)
            {
                Assert.True(e[i].Dims.SequenceEqual(g[i].Dims), $"rank {r} result {i}: shape {Shape.Format(g[i].Dims)}, in-process {Shape.Format(e[i].Dims)}");
                Assert.True(e[i].Values.SequenceEqual(g[i].Values), $"rank {r} result {i}: values differ from in-process (rel. error {Numerics.RelativeError(g[i].Values, e[i].Values):E2})");
            }
            Assert.Equal(eBytes, gBytes);
        }
        // And the sums really are sums: rank 0's first AllReduce against a direct sum.
        var direct = new float[35];
        for (int r = 0; r < size; r++) { var x = Data(r, 35, 1); for (int i = 0; i < 35; i++) direct[i] += x[i]; }
        Assert.True(Numerics.RelativeError(got[0].Item1[0].Values, direct) < 1e-6);
    }

    static string Counters(CommStats s) =>
        $"{s.BytesSent} in {s.Operations}: " + string.Join(", ", s.BytesByOperation.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}"));

    [Fact]
    public void ARankThatDisposesMidRunFailsTheOthersAtOnceNamingItAndTheOp()
    {
        var started = DateTime.UtcNow;
        // Ranks 0 and 1 keep their sockets open until both have failed, so each failure is caused by rank 2 alone
        // (otherwise a rank that is slow to start AllGather may see the other survivor leave first).
        using var bothFailed = new CountdownEvent(2);
        var (_, errors) = TcpTestWorld.RunAll(3, c =>
        {
            using var t = c.Ops.FromHost(Data(c.Rank, 8, 1), 8);
            c.AllReduce(t); // everyone alive
            if (c.Rank == 2) { c.Dispose(); return 0; }
            try { c.AllGather(t, 0).Dispose(); }
            catch
            {
                bothFailed.Signal();
                bothFailed.Wait(TimeSpan.FromSeconds(60));
                throw;
            }
            return 1;
        }, opTimeout: TimeSpan.FromSeconds(60));
        Assert.Null(errors[2]);
        foreach (var e in errors[..2])
        {
            var ex = Assert.IsType<CommAbortedException>(e);
            Assert.Contains("AllGather #2", ex.Message);
            Assert.Contains("rank 2", ex.Message);
        }
        // Far below the 60 s watchdog: the closed socket, not the timeout, ended the wait.
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(30), $"took {(DateTime.UtcNow - started).TotalSeconds:F1} s");
    }

    [Fact]
    public void ASilentPeerTripsTheWatchdogNamingTheOpAndThePeer()
    {
        using var gone = new ManualResetEventSlim();
        var (_, errors) = TcpTestWorld.RunAll(2, c =>
        {
            if (c.Rank == 1) { gone.Wait(TimeSpan.FromSeconds(60)); return 0; } // alive but never calls Barrier
            try { c.Barrier(); } finally { gone.Set(); }
            return 1;
        }, opTimeout: TimeSpan.FromMilliseconds(300));
        var ex = Assert.IsType<CommTimeoutException>(errors[0]);
        Assert.Contains("Barrier #0 on rank 0", ex.Message);
        Assert.Contains("no data from rank 1", ex.Message);
        Assert.Null(errors[1]);
    }

    [Fact]
    public void MismatchedCollectivesAndShapesFailClearly()
    {
        var (_, errors) = TcpTestWorld.RunAll(2, c =>
        {
            using var t = c.Ops.FromHost(Data(c.Rank, 4, 1), 4);
            if (c.Rank == 0) c.AllReduce(t); else c.Broadcast(t, 0);
            return 0;
        });
        Assert.Contains(errors, e => e is InvalidOperationException && e.Message.Contains("rank 0 called AllReduce as its collective #0"));

        (_, errors) = TcpTestWorld.RunAll(2, c =>
        {
            using var t = c.Ops.FromHost(Data(c.Rank, 4 + c.Rank, 1), 4 + c.Rank);
            c.AllReduce(t);
            return 0;
        });
        Assert.Contains(errors, e => e is ArgumentException && e.Message.Contains("rank 1 passed [5] but rank 0 passed [4]"));
    }

    [Fact]
    public void SplitRejectsNonMembersAndRepeats()
    {
        var messages = TcpTestWorld.Run(2, c => new[]
        {
            Assert.Throws<ArgumentException>(() => c.Split([1 - c.Rank])).Message,
            Assert.Throws<ArgumentException>(() => c.Split([0, 0])).Message,
            Assert.Throws<ArgumentOutOfRangeException>(() => c.Split([0, 2])).Message,
        });
        Assert.Contains("not in [", messages[0][0]);
        Assert.Contains("repeats a rank", messages[0][1]);
        Assert.Contains("Split member 2", messages[0][2]);
    }
}
