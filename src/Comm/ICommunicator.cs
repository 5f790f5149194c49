using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Comm;

/// <summary>
/// A group of ranks that exchange tensors of one backend (<see cref="Ops"/>). Every member calls the collectives
/// in the same order with matching shapes; tensors that cross ranks are copied, so no rank ever sees another's
/// memory. Methods that return a tensor allocate it from <see cref="Ops"/>; the caller disposes it.
/// Ranks inside a group are numbered 0..Size−1 in the order the group was made with.
/// </summary>
public interface ICommunicator
{
    /// <summary>This rank's index in the group.</summary>
    int Rank { get; }
    int Size { get; }
    /// <summary>The backend every tensor passed to or returned by this communicator lives on.</summary>
    IOps Ops { get; }
    /// <summary>World ranks of the members, indexed by group rank.</summary>
    IReadOnlyList<int> WorldRanks { get; }
    /// <summary>Traffic counters of this rank (world-wide, shared by every group the rank belongs to).</summary>
    CommStats Stats { get; }

    /// <summary>Element-wise sum over the group, written back into <paramref name="t"/> on every rank. The sum is
    /// taken in rank order, so every rank gets bit-identical values.</summary>
    void AllReduce(Tensor t);

    /// <summary>The members' tensors concatenated along <paramref name="axis"/> in rank order. Shapes must match
    /// except along that axis.</summary>
    Tensor AllGather(Tensor input, int axis);

    /// <summary>Sum over the group, then rank r keeps chunk r of Size equal chunks along <paramref name="axis"/>.</summary>
    Tensor ReduceScatter(Tensor input, int axis);

    /// <summary>
    /// Splits <paramref name="input"/> along <paramref name="scatterAxis"/> into Size equal chunks, sends chunk j to
    /// rank j, and concatenates the chunks received along <paramref name="gatherAxis"/> in source-rank order.
    /// Ulysses is two calls: [B, S/P, H, d] → (scatter 2, gather 1) → [B, S, H/P, d] → (scatter 1, gather 2) → back.
    /// </summary>
    Tensor AllToAll(Tensor input, int scatterAxis, int gatherAxis);

    /// <summary>Copies root's tensor into <paramref name="t"/> on every other rank (same shape everywhere).</summary>
    void Broadcast(Tensor t, int root);

    /// <summary>Returns once every member has entered it.</summary>
    void Barrier();

    /// <summary>Sends a copy of <paramref name="t"/> to group rank <paramref name="dst"/>. Messages between two
    /// ranks with the same tag arrive in the order sent.</summary>
    void Send(Tensor t, int dst, int tag = 0);

    /// <summary>Receives the next message from <paramref name="src"/> with <paramref name="tag"/> into
    /// <paramref name="dst"/>, whose shape must equal the sent one.</summary>
    void Recv(Tensor dst, int src, int tag = 0);

    /// <summary>Starts a send to <paramref name="dst"/> and a receive from <paramref name="src"/> (batched P2P, as a
    /// ring step needs) and returns at once; <see cref="ICommRequest.Wait"/> completes both. Compute placed
    /// between the call and Wait overlaps the transfer where the backend can.</summary>
    ICommRequest SendRecvAsync(Tensor send, int dst, Tensor recv, int src, int tag = 0);

    /// <summary>A communicator over a subset of this group: <paramref name="ranks"/> are ranks of this group, in
    /// the order that numbers the new group. Only members call it; calling it is not a collective (any member may
    /// make the group at any time, and every member making the same list gets the same group).</summary>
    ICommunicator Split(int[] ranks);
}

/// <summary>A started point-to-point exchange.</summary>
public interface ICommRequest
{
    /// <summary>Blocks until the transfer has finished and the receive buffer holds the data.</summary>
    void Wait();
}
