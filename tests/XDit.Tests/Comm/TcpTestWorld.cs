using System.Net;
using System.Runtime.ExceptionServices;
using XDit.Comm;
using XDit.Comm.Tcp;
using XDit.Kernels.Cpu;

namespace XDit.Tests.Comm;

/// <summary>N ranks as N threads of the test process, each with its own rendezvous client, sockets over
/// 127.0.0.1 and CpuOps: the real TCP path without extra processes. The store listens on a free port.</summary>
static class TcpTestWorld
{
    public static RendezvousOptions Options(int rank, int size, int port, double timeoutSeconds = 30) =>
        new(rank, size, "127.0.0.1", port, HostStore: false, TimeSpan.FromSeconds(timeoutSeconds));

    /// <summary>Runs <paramref name="body"/> on every rank and returns the results by rank; rethrows the first
    /// rank's exception (by rank order) when any failed.</summary>
    public static T[] Run<T>(int size, Func<TcpCommunicator, T> body, TimeSpan? opTimeout = null)
    {
        var (results, errors) = RunAll(size, body, opTimeout);
        foreach (var e in errors) if (e is not null) ExceptionDispatchInfo.Capture(e).Throw();
        return results;
    }

    /// <summary>Runs every rank to completion and returns each one's result or exception.</summary>
    public static (T[] Results, Exception?[] Errors) RunAll<T>(int size, Func<TcpCommunicator, T> body, TimeSpan? opTimeout = null)
    {
        using var store = RendezvousStore.Start(IPAddress.Loopback, 0);
        var results = new T[size];
        var errors = new Exception?[size];
        var threads = Enumerable.Range(0, size).Select(rank => new Thread(() =>
        {
            try
            {
                using var ops = new CpuOps();
                using var comm = TcpCommunicator.Connect(Options(rank, size, store.Port), ops, opTimeout ?? TimeSpan.FromSeconds(30));
                results[rank] = body(comm);
            }
            catch (Exception e) { errors[rank] = e; }
        }, 16 << 20) { IsBackground = true, Name = $"tcp-test-rank-{rank}" }).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads)
            if (!t.Join(TimeSpan.FromSeconds(120))) throw new TimeoutException($"{t.Name} did not finish within 120 s");
        return (results, errors);
    }
}
