using XDit.Runtime;

namespace XDit.Comm;

/// <summary>
/// The argument checks every communicator makes before it talks to its peers (peer ranks, Split's rank list, axes
/// that must split into one chunk per rank), so the in-process, TCP and NCCL backends refuse the same calls with the
/// same messages. <c>group</c> is how the caller names its group in messages ("group world", "group [0,1]").
/// </summary>
static class CommChecks
{
    /// <summary>A peer rank (source, destination, root, Split member) must be a rank of the group.</summary>
    public static void Peer(int r, int size, string what, string group)
    {
        if (r < 0 || r >= size) throw new ArgumentOutOfRangeException(nameof(r), $"{what} {r} is not a rank of {group} (size {size})");
    }

    /// <summary>Split's rank list: non-empty, ranks of the group, none repeated, the caller among them.
    /// Returns the caller's rank in the sub-group.</summary>
    public static int SplitMember(int[] ranks, int rank, int size, string group)
    {
        if (ranks.Length == 0) throw new ArgumentException("Split: empty rank list");
        foreach (var r in ranks) Peer(r, size, "Split member", group);
        if (ranks.Distinct().Count() != ranks.Length)
            throw new ArgumentException($"Split: rank list [{string.Join(",", ranks)}] repeats a rank");
        int me = Array.IndexOf(ranks, rank);
        if (me < 0)
            throw new ArgumentException($"Split: rank {rank} of {group} is not in [{string.Join(",", ranks)}]; only members make a sub-group");
        return me;
    }

    /// <summary>ReduceScatter's axis <paramref name="axis"/> (already normalised) must split into one equal chunk per rank.</summary>
    public static void ReduceAxisSplits(Tensor input, int axis, int size)
    {
        if (input.Dim(axis) % size != 0)
            throw new ArgumentException($"ReduceScatter: axis {axis} of {Shape.Format(input.ShapeSpan)} does not split into {size} equal chunks");
    }

    /// <summary>AllToAll's scatter axis (already normalised) must split into one equal chunk per rank.</summary>
    public static void ScatterAxisSplits(Tensor input, int axis, int size, int rank, string group)
    {
        if (input.Dim(axis) % size != 0)
            throw new ArgumentException($"AllToAll on rank {rank} of {group}: scatter axis {axis} of {Shape.Format(input.ShapeSpan)} does not split into {size} equal chunks");
    }

    /// <summary>Bytes a tensor's elements take (what the stats count as sent).</summary>
    public static long Bytes(Tensor t) => t.NumElements * t.DType.SizeOf();
}
