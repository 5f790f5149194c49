using System.Net;
using System.Runtime.ExceptionServices;
using XDit.Comm;
using XDit.Comm.Nccl;
using XDit.Comm.Tcp;
using XDit.Kernels.Cuda;
using XDit.Runtime;
using XDit.Runtime.Cuda;

namespace XDit.Tests.Comm;

/// <summary>NCCL ranks as threads of the test process: rank r on cuda:r with its own CudaOps and NCCL rank, the
/// unique ids travelling through a loopback rendezvous store, as `xdit launch` ranks meet.</summary>
public static class NcclTestWorld
{
    /// <summary>Skips the calling test, saying why, unless NCCL and <paramref name="gpus"/> CUDA devices are here.</summary>
    public static void Require(int gpus)
    {
        Assert.SkipUnless(NcclLibrary.IsAvailable(out var reason), $"no NCCL: {reason}");
        Assert.SkipUnless(CudaOps.IsAvailable(out var why), $"no CUDA device: {why}");
        CudaDevice.TryGetCount(out int count, out _);
        Assert.SkipWhen(count < gpus, $"needs {gpus} GPUs, this machine has {count}");
    }

    /// <summary>Runs <paramref name="body"/> on every rank and returns the results by rank; rethrows the first
    /// rank's exception (by rank order) when any failed.</summary>
    public static T[] Run<T>(int size, DType activation, Func<ICommunicator, T> body) => Run(size, activation, c => body(c), null);

    /// <summary><see cref="Run{T}(int, DType, Func{ICommunicator, T})"/> with the heartbeat silence limit given.</summary>
    public static T[] Run<T>(int size, DType activation, Func<NcclCommunicator, T> body, TimeSpan? silence)
    {
        using var store = RendezvousStore.Start(IPAddress.Loopback, 0);
        var results = new T[size];
        var errors = new Exception?[size];
        var threads = Enumerable.Range(0, size).Select(rank => new Thread(() =>
        {
            try
            {
                using var ops = new CudaOps(rank, activation);
                using var comm = NcclCommunicator.Connect(Rendezvous.Join(TcpTestWorld.Options(rank, size, store.Port)), ops, TimeSpan.FromSeconds(60), silence);
                results[rank] = body(comm);
            }
            catch (Exception e) { errors[rank] = e; }
        })).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) Assert.True(t.Join(TimeSpan.FromSeconds(180)), "an NCCL rank did not finish within 180 s");
        foreach (var e in errors) if (e is not null) ExceptionDispatchInfo.Capture(e).Throw();
        return results;
    }
}
