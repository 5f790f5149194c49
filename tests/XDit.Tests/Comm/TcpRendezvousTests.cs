using System.Net;
using System.Net.Sockets;
using System.Text;
using XDit.Comm;
using XDit.Comm.Tcp;

namespace XDit.Tests.Comm;

/// <summary>The master's store and the rendezvous over loopback: blobs, the peer table, and one clear line for
/// every way a rank can miss the meeting.</summary>
public class TcpRendezvousTests
{
    [Fact]
    public void RankZeroHostsTheStoreAndPublishesABlobTheOthersRead()
    {
        // Rank 0 hosts on a free port; the others learn it only after rank 0 started (as a launcher would pass it on).
        var id = Numerics.Random(32, 3).SelectMany(BitConverter.GetBytes).ToArray(); // 128 bytes, like ncclUniqueId
        using var host = Rendezvous.Join(new RendezvousOptions(0, 3, "127.0.0.1", 0, HostStore: true, TimeSpan.FromSeconds(30)));
        Assert.NotEqual(0, host.StorePort);
        host.Publish("nccl-id", id);
        var read = new byte[2][];
        var threads = Enumerable.Range(1, 2).Select(r => new Thread(() =>
        {
            using var rv = Rendezvous.Join(TcpTestWorld.Options(r, 3, host.StorePort));
            read[r - 1] = rv.Read("nccl-id", publisher: 0);
            rv.Publish($"addr/{r}", Encoding.UTF8.GetBytes($"r{r}"));
        })).ToArray();
        foreach (var t in threads) t.Start();
        host.Publish("addr/0", "r0"u8);
        var all = host.ReadAll("addr");
        foreach (var t in threads) t.Join();
        Assert.Equal(id, read[0]);
        Assert.Equal(id, read[1]);
        Assert.Equal(new[] { "r0", "r1", "r2" }, all.Select(Encoding.UTF8.GetString));
    }

    [Fact]
    public void ARankThatNeverComesIsNamed()
    {
        using var store = RendezvousStore.Start(IPAddress.Loopback, 0);
        var errors = new Exception?[2];
        var threads = Enumerable.Range(0, 2).Select(r => new Thread(() =>
        {
            try { TcpWorld.Connect(Rendezvous.Join(TcpTestWorld.Options(r, 4, store.Port, timeoutSeconds: 0.5))).Dispose(); }
            catch (Exception e) { errors[r] = e; }
        })).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
        foreach (var e in errors)
        {
            var ex = Assert.IsType<CommTimeoutException>(e);
            Assert.Contains("ranks 2, 3 of 4 never came to the rendezvous at 127.0.0.1:" + store.Port, ex.Message);
        }
    }

    [Fact]
    public void AnUnreachableMasterIsNamedWithItsAddress()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop(); // nothing listens there now
        var ex = Assert.Throws<CommTimeoutException>(() => Rendezvous.Join(TcpTestWorld.Options(1, 2, port, timeoutSeconds: 0.3)));
        Assert.Contains($"rank 1: rendezvous store (--master-addr 127.0.0.1 --master-port {port}) not reachable", ex.Message);
        Assert.Contains($"could not reach 127.0.0.1:{port}", ex.Message);
    }

    [Fact]
    public void ARankRegisteredTwiceIsRefused()
    {
        using var store = RendezvousStore.Start(IPAddress.Loopback, 0);
        using var first = Rendezvous.Join(TcpTestWorld.Options(1, 2, store.Port));
        var ex = Assert.Throws<InvalidOperationException>(() => Rendezvous.Join(TcpTestWorld.Options(1, 2, store.Port)));
        Assert.Contains("already registered as rank 1", ex.Message);
    }

    [Theory]
    [InlineData(2, 2, 29500, "RANK 2 is outside 0..1")]
    [InlineData(0, 0, 29500, "WORLD_SIZE must be at least 1")]
    [InlineData(0, 2, 70000, "MASTER_PORT must be a TCP port")]
    public void BadOptionsAreRefusedBeforeAnyNetworking(int rank, int size, int port, string expected)
    {
        var ex = Assert.Throws<ArgumentException>(() => Rendezvous.Join(new RendezvousOptions(rank, size, "127.0.0.1", port, false, TimeSpan.FromSeconds(1))));
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void AStoreOnABusyPortSaysSo()
    {
        using var store = RendezvousStore.Start(IPAddress.Loopback, 0);
        var ex = Assert.Throws<IOException>(() => RendezvousStore.Start(IPAddress.Loopback, store.Port));
        Assert.Contains($"cannot listen on 127.0.0.1:{store.Port}", ex.Message);
    }
}
