using XDit.Comm.Nccl;
using XDit.Comm.Tcp;
using XDit.Kernels;
using XDit.Kernels.Cuda;

namespace XDit.Comm.Launch;

/// <summary>
/// The world communicator of a launched rank: NCCL when the rank's backend is a CUDA device, TCP sockets
/// otherwise (host tensors). Both meet through the same rendezvous store. Disposing closes the connections (and
/// the store when this rank hosts it): call <see cref="ICommunicator.Barrier"/> first so nobody is cut off.
/// </summary>
public sealed class LaunchedWorld : IDisposable
{
    readonly IDisposable _owner;

    LaunchedWorld(ICommunicator communicator, IDisposable owner, string transport)
    {
        Communicator = communicator;
        _owner = owner;
        Transport = transport;
    }

    public ICommunicator Communicator { get; }
    /// <summary>"tcp" or "nccl".</summary>
    public string Transport { get; }

    public static LaunchedWorld Connect(DistributedEnvironment env, IOps ops)
    {
        if (ops is CudaOps cuda)
        {
            var nccl = NcclCommunicator.Connect(Rendezvous.Join(env.Rendezvous()), cuda, env.Timeout);
            return new LaunchedWorld(nccl, nccl, "nccl");
        }
        var tcp = TcpCommunicator.Connect(env.Rendezvous(), ops, env.Timeout);
        return new LaunchedWorld(tcp, tcp, "tcp");
    }

    public void Dispose() => _owner.Dispose();
}
