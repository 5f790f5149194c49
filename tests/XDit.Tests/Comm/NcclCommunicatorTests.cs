using XDit.Comm;
using XDit.Comm.Nccl;
using XDit.Runtime;
using XDit.Runtime.Cuda;
using XDit.Tests.Cuda;
using XDit.Tests.Cuda.Emulation;

namespace XDit.Tests.Comm;

/// <summary>
/// NcclCommunicator. Here (no libnccl): the missing library is one clear line. On a GPU machine, and on the
/// emulator pass's two emulated devices: every collective on 1 and on 2 GPUs (<see cref="NcclTestWorld"/>) against
/// InProcessWorld on CpuOps; the tests skip with the reason where the hardware is missing.
/// </summary>
[Collection("cuda")]
public class NcclCommunicatorTests
{
    [Fact]
    public void AMissingLibraryIsReportedAsOneClearLine()
    {
        // In the emulator pass the stand-in libnccl of native/emu loads (XDIT_CUDA_LIBRARY_DIR), not an installed one.
        Assert.SkipWhen(NcclLibrary.IsAvailable(out var reason), EmulatedCuda.Active
            ? "the emulator pass loads the emulator's stand-in libnccl: the missing library is checked in the first pass"
            : "libnccl is installed here: the device tests cover it");
        Assert.NotNull(reason);
        Assert.DoesNotContain('\n', reason);
        Assert.Contains("libnccl.so.2 not found", reason);
        Assert.Contains("NCCL not installed (multi-GPU runs need it)", reason);
        Assert.False(NcclCommunicator.IsAvailable(out var again));
        Assert.Equal(reason, again);
        var ex = Assert.Throws<CudaUnavailableException>(NcclLibrary.Require);
        Assert.Equal(reason, ex.Message);
        Assert.Equal(reason, Assert.Throws<CudaUnavailableException>(() => NcclLibrary.Version()).Message);
    }

    [Fact]
    public void TheUniqueIdIs128BytesAndRoundTrips()
    {
        Assert.Equal(128, System.Runtime.CompilerServices.Unsafe.SizeOf<NcclUniqueId>());
        var bytes = Enumerable.Range(0, 128).Select(i => (byte)(i * 7 + 1)).ToArray();
        Assert.Equal(bytes, NcclUniqueId.FromBytes(bytes).ToArray());
        Assert.Contains("128 bytes, got 127", Assert.Throws<ArgumentException>(() => NcclUniqueId.FromBytes(bytes.AsSpan(1))).Message);
    }

    [Fact, NeedsCudaDevice]
    public void OneGpuRunsEveryOperationLikeInProcess() => CompareWithInProcess(1);

    [Fact, NeedsCudaDevice]
    public void TwoGpusRunEveryOperationLikeInProcess() => CompareWithInProcess(2);

    [Fact, NeedsCudaDevice]
    public void TheLibraryVersionIsAtLeast2_19()
    {
        NcclTestWorld.Require(1);
        Assert.True(NcclLibrary.Version() >= 21900, $"NCCL version code {NcclLibrary.Version()}");
    }

    /// <summary>A stopped peer (no heartbeats, never joining) is named well before the operation timeout (issue 22,
    /// item 5): the watchdog aborts the waiting collective once the peer's counter has been still for the silence limit.</summary>
    [Fact, NeedsCudaDevice]
    public void AStoppedPeerIsNamedByTheHeartbeatWatchdog()
    {
        NcclTestWorld.Require(2);
        using var rank0Done = new ManualResetEventSlim();
        var outcome = NcclTestWorld.Run<Exception?>(2, DType.F32, comm =>
        {
            if (comm.Rank == 1)
            {
                comm.HeartbeatsPaused = true;   // stopped: beats no more and never joins the all-reduce
                rank0Done.Wait(TimeSpan.FromSeconds(120));
                return null;
            }
            try
            {
                using var t = comm.Ops.FromHost([1f, 2f], 2);
                comm.AllReduce(t);
                comm.Barrier();
                return null;
            }
            catch (Exception e) { return e; }
            finally { rank0Done.Set(); }
        }, silence: TimeSpan.FromMilliseconds(300));
        var aborted = Assert.IsType<CommAbortedException>(outcome[0]);
        Assert.Contains("rank 1 has sent no heartbeat for", aborted.Message);
        Assert.Contains("AllReduce #", aborted.Message);
    }

    /// <summary>A peer in a long step keeps beating and is waited for: rank 1 joins the all-reduce only once rank 0
    /// has seen 12 of its heartbeats (two silence limits) while waiting in it.</summary>
    [Fact, NeedsCudaDevice]
    public void ASlowPeerThatKeepsBeatingIsWaitedFor()
    {
        NcclTestWorld.Require(2);
        NcclCommunicator? comm0 = null;
        using var rank0Ready = new ManualResetEventSlim();
        var sums = NcclTestWorld.Run(2, DType.F32, comm =>
        {
            using var t = comm.Ops.FromHost([comm.Rank + 1f], 1);
            if (comm.Rank == 0) { comm0 = comm; rank0Ready.Set(); }
            else
            {
                Assert.True(rank0Ready.Wait(TimeSpan.FromSeconds(60)));
                long seen = comm0!.HeartbeatsFrom(1);
                var spin = new SpinWait();
                while (comm0.HeartbeatsFrom(1) < seen + 12) spin.SpinOnce(sleep1Threshold: -1);
            }
            comm.AllReduce(t);
            return comm.Ops.ToHost(t)[0];
        }, silence: TimeSpan.FromMilliseconds(300));
        Assert.Equal([3f, 3f], sums);
    }

    static void CompareWithInProcess(int size)
    {
        NcclTestWorld.Require(size);
        var expect = InProcessWorld.Run(size, Script);
        var got = NcclTestWorld.Run(size, DType.F32, Script);
        for (int r = 0; r < size; r++)
        {
            Assert.Equal(expect[r].Count, got[r].Count);
            for (int i = 0; i < expect[r].Count; i++)
            {
                Assert.Equal(expect[r][i].Dims, got[r][i].Dims);
                double err = Numerics.RelativeError(got[r][i].Values, expect[r][i].Values);
                Assert.True(err < 1e-6, $"rank {r} result {i}: relative error {err:E2}");
            }
        }
    }

    /// <summary>The contract's operations as NCCL can run them (point-to-point as grouped SendRecvAsync).</summary>
    static List<(int[] Dims, float[] Values)> Script(ICommunicator c)
    {
        var ops = c.Ops;
        int n = c.Size, r = c.Rank;
        var outs = new List<(int[], float[])>();
        void Keep(Tensor t) => outs.Add((t.Dims, ops.ToHost(t)));
        float[] Data(int len, int salt) => Numerics.Random(len, 977 * salt + 13 * r + 1);

        using (var t = ops.FromHost(Data(35, 1), 7, 5)) { c.AllReduce(t); Keep(t); }
        using (var t = ops.FromHost(Data(2 * 3 * 3, 2), 2, 3, 3))
        using (var g = c.AllGather(t, 1)) Keep(g);
        using (var t = ops.FromHost(Data(2 * (r + 1) * 3, 3), 2, r + 1, 3))
        using (var g = c.AllGather(t, 1)) Keep(g);
        using (var t = ops.FromHost(Data(3 * 2 * n * 2, 4), 3, 2 * n, 2))
        using (var s = c.ReduceScatter(t, 1)) Keep(s);
        using (var x = ops.FromHost(Data(2 * 3 * 2 * n * 4, 5), 2, 3, 2 * n, 4))
        {
            using var y = c.AllToAll(x, 2, 1);
            Keep(y);
            using var back = c.AllToAll(y, 1, 2);
            Keep(back);
        }
        for (int root = 0; root < n; root++)
            using (var t = ops.FromHost(Data(6, 6 + root), 2, 3)) { c.Broadcast(t, root); Keep(t); }
        c.Barrier();
        using (var send = ops.FromHost(Data(5, 7), 5))
        using (var recv = ops.Zeros(DType.F32, 5))
        {
            c.SendRecvAsync(send, (r + 1) % n, recv, (r + n - 1) % n, tag: 3).Wait();
            Keep(recv);
        }
        var sub = c.Split(Enumerable.Range(0, n).Where(i => i % 2 == r % 2).ToArray());
        using (var t = ops.FromHost(Data(4, 8), 4)) { sub.AllReduce(t); Keep(t); }
        c.Barrier();
        return outs;
    }
}
