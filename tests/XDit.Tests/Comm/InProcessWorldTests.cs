using XDit.Comm;
using XDit.Runtime;

namespace XDit.Tests.Comm;

public class InProcessWorldTests
{
    public static TheoryData<int> Sizes => new(1, 2, 3, 4, 8);

    static float[] Data(int rank, int n, int salt = 0) => Numerics.Random(n, 1000 * salt + rank + 1);

    [Theory, MemberData(nameof(Sizes))]
    public void AllReduceSumsInPlaceIdenticallyOnEveryRank(int size)
    {
        var results = InProcessWorld.Run(size, c =>
        {
            using var t = c.Ops.FromHost(Data(c.Rank, 15), 3, 5);
            c.AllReduce(t);
            return c.Ops.ToHost(t);
        });
        var expect = new float[15];
        for (int r = 0; r < size; r++) { var x = Data(r, 15); for (int i = 0; i < 15; i++) expect[i] += x[i]; }
        foreach (var got in results)
        {
            Assert.True(Numerics.RelativeError(got, expect) < 1e-6);
            Assert.Equal(results[0], got); // bit-identical everywhere
        }
    }

    [Theory, MemberData(nameof(Sizes))]
    public void AllGatherConcatenatesInRankOrderAlongAnyAxis(int size)
    {
        // Rank r holds [2, r + 1, 3]: sizes may differ along the gathered axis.
        var results = InProcessWorld.Run(size, c =>
        {
            using var t = c.Ops.FromHost(Data(c.Rank, 2 * (c.Rank + 1) * 3), 2, c.Rank + 1, 3);
            using var g = c.AllGather(t, 1);
            using var t0 = c.Ops.FromHost(Data(c.Rank, 4 * 3, 1), 4, 3);
            using var g0 = c.AllGather(t0, -2);
            return (g.Dims, c.Ops.ToHost(g), g0.Dims, c.Ops.ToHost(g0));
        });
        int total = size * (size + 1) / 2;
        var expect = new float[2 * total * 3];
        int off = 0;
        for (int r = 0; r < size; r++)
        {
            var x = Data(r, 2 * (r + 1) * 3);
            for (int b = 0; b < 2; b++)
                for (int j = 0; j < r + 1; j++)
                    for (int k = 0; k < 3; k++)
                        expect[(b * total + off + j) * 3 + k] = x[(b * (r + 1) + j) * 3 + k];
            off += r + 1;
        }
        var expect0 = Enumerable.Range(0, size).SelectMany(r => Data(r, 12, 1)).ToArray();
        foreach (var (dims, got, dims0, got0) in results)
        {
            Assert.Equal(new[] { 2, total, 3 }, dims);
            Assert.Equal(expect, got);
            Assert.Equal(new[] { 4 * size, 3 }, dims0);
            Assert.Equal(expect0, got0);
        }
    }

    [Theory, MemberData(nameof(Sizes))]
    public void ReduceScatterKeepsThisRanksChunkOfTheSum(int size)
    {
        int cols = 3 * size;
        var results = InProcessWorld.Run(size, c =>
        {
            using var t = c.Ops.FromHost(Data(c.Rank, 2 * cols), 2, cols);
            using var s = c.ReduceScatter(t, 1);
            return (s.Dims, c.Ops.ToHost(s));
        });
        var sum = new float[2 * cols];
        for (int r = 0; r < size; r++) { var x = Data(r, 2 * cols); for (int i = 0; i < sum.Length; i++) sum[i] += x[i]; }
        for (int r = 0; r < size; r++)
        {
            Assert.Equal(new[] { 2, 3 }, results[r].Dims);
            var expect = new float[6];
            for (int b = 0; b < 2; b++) for (int j = 0; j < 3; j++) expect[b * 3 + j] = sum[b * cols + r * 3 + j];
            Assert.True(Numerics.RelativeError(results[r].Item2, expect) < 1e-6);
        }
    }

    [Theory, MemberData(nameof(Sizes))]
    public void AllToAllIsUlyssesAndItsInverseRoundTrips(int size)
    {
        // Local [B, n, H, d] with H = 2·size heads: scatter heads, gather sequence → [B, size·n, 2, d].
        int B = 2, n = 3, H = 2 * size, d = 4;
        var results = InProcessWorld.Run(size, c =>
        {
            var x = Data(c.Rank, B * n * H * d);
            using var t = c.Ops.FromHost(x, B, n, H, d);
            using var seq = c.AllToAll(t, 2, 1);
            using var back = c.AllToAll(seq, 1, 2);
            return (seq.Dims, c.Ops.ToHost(seq), c.Ops.ToHost(back), x);
        });
        for (int r = 0; r < size; r++)
        {
            var (dims, seq, back, x) = results[r];
            Assert.Equal(new[] { B, size * n, 2, d }, dims);
            Assert.Equal(x, back);
            for (int b = 0; b < B; b++)
                for (int src = 0; src < size; src++)
                {
                    var xs = results[src].Item4;
                    for (int i = 0; i < n; i++)
                        for (int hh = 0; hh < 2; hh++)
                            for (int k = 0; k < d; k++)
                                Assert.Equal(xs[((b * n + i) * H + r * 2 + hh) * d + k], seq[((b * size * n + src * n + i) * 2 + hh) * d + k]);
                }
        }
    }

    [Theory, MemberData(nameof(Sizes))]
    public void BroadcastCopiesTheRootsTensor(int size)
    {
        int root = size - 1;
        var results = InProcessWorld.Run(size, c =>
        {
            using var t = c.Ops.FromHost(Data(c.Rank, 10), 2, 5);
            c.Broadcast(t, root);
            c.Barrier();
            return c.Ops.ToHost(t);
        });
        foreach (var got in results) Assert.Equal(Data(root, 10), got);
    }

    [Theory, MemberData(nameof(Sizes))]
    public void SendRecvAroundTheRingKeepsOrderPerTag(int size)
    {
        var results = InProcessWorld.Run(size, c =>
        {
            int next = (c.Rank + 1) % c.Size, prev = (c.Rank - 1 + c.Size) % c.Size;
            using var a = c.Ops.FromHost(Data(c.Rank, 6, 1), 6);
            using var b = c.Ops.FromHost(Data(c.Rank, 6, 2), 6);
            using var t = c.Ops.FromHost(Data(c.Rank, 4, 3), 2, 2);
            c.Send(a, next);
            c.Send(b, next);
            c.Send(t, next, tag: 7);
            using var rt = c.Ops.Empty(DType.F32, 2, 2);
            using var ra = c.Ops.Empty(DType.F32, 6);
            using var rb = c.Ops.Empty(DType.F32, 6);
            c.Recv(rt, prev, tag: 7); // another tag can be taken first
            c.Recv(ra, prev);
            var req = c.SendRecvAsync(a, next, rb, prev, tag: 9);
            req.Wait();
            using var rb2 = c.Ops.Empty(DType.F32, 6);
            c.Recv(rb2, prev);
            return (c.Ops.ToHost(rt), c.Ops.ToHost(ra), c.Ops.ToHost(rb), c.Ops.ToHost(rb2));
        });
        for (int r = 0; r < size; r++)
        {
            int prev = (r - 1 + size) % size;
            Assert.Equal(Data(prev, 4, 3), results[r].Item1);
            Assert.Equal(Data(prev, 6, 1), results[r].Item2);
            Assert.Equal(Data(prev, 6, 1), results[r].Item3);
            Assert.Equal(Data(prev, 6, 2), results[r].Item4);
        }
    }

    [Theory, MemberData(nameof(Sizes))]
    public void SubGroupsCommunicateIndependently(int size)
    {
        // Even and odd world ranks form two groups (listed high to low, so group rank ≠ world rank order);
        // then each group splits again into its first member alone.
        var results = InProcessWorld.Run(size, c =>
        {
            var mine = Enumerable.Range(0, c.Size).Where(r => r % 2 == c.Rank % 2).Reverse().ToArray();
            var sub = c.Split(mine);
            using var t = c.Ops.FromHost(Data(c.Rank, 4), 4);
            using var g = sub.AllGather(t, 0);
            sub.AllReduce(t);
            var solo = sub.Split(new[] { sub.Rank });
            using var s = solo.AllGather(t, 0);
            c.Barrier();
            return (sub.Rank, sub.WorldRanks.ToArray(), c.Ops.ToHost(g), c.Ops.ToHost(t), c.Ops.ToHost(s));
        });
        for (int r = 0; r < size; r++)
        {
            var members = Enumerable.Range(0, size).Where(x => x % 2 == r % 2).Reverse().ToArray();
            var (subRank, worldRanks, gathered, reduced, solo) = results[r];
            Assert.Equal(members, worldRanks);
            Assert.Equal(Array.IndexOf(members, r), subRank);
            Assert.Equal(members.SelectMany(m => Data(m, 4)).ToArray(), gathered);
            var sum = new float[4];
            foreach (var m in members) { var x = Data(m, 4); for (int i = 0; i < 4; i++) sum[i] += x[i]; }
            Assert.True(Numerics.RelativeError(reduced, sum) < 1e-6);
            Assert.Equal(reduced, solo);
        }
    }

    [Fact]
    public void SplitRejectsNonMembersAndRepeats()
    {
        var e = Assert.Throws<ArgumentException>(() => InProcessWorld.Run(2, c => c.Split(c.Rank == 0 ? new[] { 1 } : new[] { 1, 1 })));
        Assert.Contains("Split", e.Message);
    }

    [Fact]
    public void AFailingRankAbortsTheOthersAndItsExceptionPropagates()
    {
        var seen = new Exception?[4];
        var e = Assert.Throws<InvalidOperationException>(() => InProcessWorld.Run(4, c =>
        {
            try
            {
                using var t = c.Ops.FromHost(Data(c.Rank, 3), 3);
                c.AllReduce(t);
                if (c.Rank == 2) throw new InvalidOperationException("rank two broke");
                c.AllReduce(t); // the others block here until the abort wakes them
                return 0;
            }
            catch (Exception x) { seen[c.Rank] = x; throw; }
        }));
        Assert.Equal("rank two broke", e.Message);
        for (int r = 0; r < 4; r++)
        {
            if (r == 2) continue;
            var a = Assert.IsType<CommAbortedException>(seen[r]);
            Assert.Contains("AllReduce", a.Message);
            Assert.Contains("rank 2 failed", a.Message);
        }
    }

    [Fact]
    public void ARankThatReturnsEarlyFailsTheCallsWaitingForIt()
    {
        var e = Assert.Throws<InvalidOperationException>(() => InProcessWorld.Run(3, c =>
        {
            if (c.Rank != 1) c.Barrier();
            return 0;
        }));
        Assert.Contains("Barrier", e.Message);
        Assert.Contains("group rank 1 (world rank 1) returned without making this call", e.Message);
        var r = Assert.Throws<InvalidOperationException>(() => InProcessWorld.Run(2, c =>
        {
            if (c.Rank == 1) { using var t = c.Ops.Empty(DType.F32, 2); c.Recv(t, 0, tag: 3); }
            return 0;
        }));
        Assert.Contains("rank 0 returned without sending it", r.Message);
    }

    [Fact]
    public void ADeadlockTimesOutNamingTheOpAndTheRanks()
    {
        // Ranks 1 and 2 each wait for the other's message; rank 0 waits for them in a barrier.
        var world = new InProcessWorld(3, TimeSpan.FromMilliseconds(300));
        var e = Assert.Throws<CommTimeoutException>(() => world.Run(c =>
        {
            using var t = c.Ops.Empty(DType.F32, 2);
            if (c.Rank > 0) c.Recv(t, 3 - c.Rank);
            c.Barrier();
            return 0;
        }));
        Assert.Contains("waited 0.3 s", e.Message);
        Assert.True(e.Message.Contains("Recv") || e.Message.Contains("Barrier"), e.Message);
        if (e.Message.Contains("Barrier")) Assert.Contains("never arrived: [1,2]", e.Message);
        else Assert.Contains("sent nothing", e.Message);
    }

    [Fact]
    public void MismatchedCollectivesAndShapesFailClearly()
    {
        var op = Assert.Throws<InvalidOperationException>(() => InProcessWorld.Run(2, c =>
        {
            using var t = c.Ops.FromHost(Data(c.Rank, 3), 3);
            if (c.Rank == 0) c.AllReduce(t); else c.Barrier();
            return 0;
        }));
        Assert.Contains("same order", op.Message);
        var shape = Assert.Throws<ArgumentException>(() => InProcessWorld.Run(2, c =>
        {
            using var t = c.Ops.FromHost(Data(c.Rank, 4 + 2 * c.Rank), 2, 2 + c.Rank);
            using var x = c.AllToAll(t, 0, 1);
            return 0;
        }));
        Assert.Contains("[2, 3]", shape.Message);
        var recv = Assert.Throws<ArgumentException>(() => InProcessWorld.Run(2, c =>
        {
            using var t = c.Ops.FromHost(Data(c.Rank, 4), 4);
            if (c.Rank == 0) c.Send(t, 1);
            else { using var r = c.Ops.Empty(DType.F32, 5); c.Recv(r, 0); }
            return 0;
        }));
        Assert.Contains("[4]", recv.Message);
        Assert.Contains("[5]", recv.Message);
    }

    [Fact]
    public void BytesSentCountsWhatLeavesEachRank()
    {
        var world = new InProcessWorld(4);
        world.Run(c =>
        {
            using var t = c.Ops.FromHost(Data(c.Rank, 8), 2, 4);       // 32 bytes
            using var g = c.AllGather(t, 0);                            // 3 · 32
            using var a = c.AllToAll(t, 1, 0);                          // 3/4 · 32
            if (c.Rank == 0) c.Send(t, 3);                              // 32 more on rank 0
            if (c.Rank == 3) { using var r = c.Ops.Empty(DType.F32, 2, 4); c.Recv(r, 0); }
            return 0;
        });
        Assert.Equal(new long[] { 96 + 24 + 32, 120, 120, 120 }, world.BytesSentPerRank());
        Assert.Contains("rank 0: 152 bytes", world.TrafficReport());
        Assert.Equal(96, world.Stats(1).BytesByOperation["AllGather"]);
    }
}
