namespace XDit.Comm;

/// <summary>
/// How the world's ranks split over the parallel methods, in xDiT's order "tp-sp-pp-cfg-dp" (first varies
/// fastest): rank = tp + T·(sp + S·(pp + P·(cfg + C·dp))). Inside the sp block the Ulysses ranks are consecutive
/// and the Ring ranks strided by the Ulysses degree (yunchang's use_ulysses_low): sp = ulysses + U·ring.
/// Tensor parallelism is not implemented, so its degree is 1.
/// </summary>
public sealed class DeviceMesh
{
    public DeviceMesh(int worldSize, int data = 1, int cfg = 1, int pipefusion = 1, int ulysses = 1, int ring = 1)
    {
        var degrees = new (string Name, int Value)[] { ("data", data), ("cfg", cfg), ("pipefusion", pipefusion), ("ulysses", ulysses), ("ring", ring) };
        var bad = degrees.Where(d => d.Value < 1).ToArray();
        if (worldSize < 1)
            throw new ArgumentException($"world size must be positive, got {worldSize}");
        if (bad.Length > 0)
            throw new ArgumentException($"parallel degrees must be positive: {string.Join(", ", bad.Select(d => $"{d.Name} {d.Value}"))}");
        long product = (long)data * cfg * pipefusion * ulysses * ring;
        if (product != worldSize)
            throw new ArgumentException($"the parallel degrees multiply to {product} (data {data} × cfg {cfg} × pipefusion {pipefusion} × ulysses {ulysses} × ring {ring} × tp 1) but the world has {worldSize} ranks; they must be equal");
        WorldSize = worldSize;
        Data = data; Cfg = cfg; Pipe = pipefusion; Ulysses = ulysses; Ring = ring;
    }

    public int WorldSize { get; }
    public int Data { get; }
    public int Cfg { get; }
    public int Pipe { get; }
    public int Ulysses { get; }
    public int Ring { get; }
    public int Sp => Ulysses * Ring;
    public int Tp => 1;

    /// <summary>The degree of every axis, as one value indexed like a rank's <see cref="MeshCoord"/>.</summary>
    public MeshCoord Degrees => new(Tp, Ulysses, Ring, Sp, Pipe, Cfg, Data);

    public int Degree(MeshAxis axis) => Degrees[axis];

    public MeshCoord CoordOf(int rank)
    {
        if (rank < 0 || rank >= WorldSize) throw new ArgumentOutOfRangeException(nameof(rank), $"rank {rank} is outside the world of {WorldSize}");
        int r = rank;
        int tp = r % Tp; r /= Tp;
        int sp = r % Sp; r /= Sp;
        int pp = r % Pipe; r /= Pipe;
        int cfg = r % Cfg; r /= Cfg;
        return new MeshCoord(tp, sp % Ulysses, sp / Ulysses, sp, pp, cfg, r);
    }

    public int RankOf(MeshCoord c)
    {
        int sp = c.Ulysses + Ulysses * c.Ring;
        return c.Tp + Tp * (sp + Sp * (c.Pipe + Pipe * (c.Cfg + Cfg * c.Data)));
    }

    /// <summary>The world ranks of <paramref name="rank"/>'s group along <paramref name="axis"/>, ordered by their
    /// coordinate on that axis (so the index of a rank in the list is its rank in the group).</summary>
    public int[] Group(MeshAxis axis, int rank)
    {
        var c = CoordOf(rank);
        var ranks = new int[Degree(axis)];
        for (int i = 0; i < ranks.Length; i++)
        {
            var m = axis switch
            {
                MeshAxis.Tp => c with { Tp = i },
                MeshAxis.Ulysses => c with { Ulysses = i },
                MeshAxis.Ring => c with { Ring = i },
                MeshAxis.Sp => c with { Ulysses = i % Ulysses, Ring = i / Ulysses },
                MeshAxis.Pipe => c with { Pipe = i },
                MeshAxis.Cfg => c with { Cfg = i },
                MeshAxis.Data => c with { Data = i },
                _ => throw new ArgumentOutOfRangeException(nameof(axis)),
            };
            ranks[i] = RankOf(m);
        }
        return ranks;
    }

    /// <summary>The contiguous image tokens [Start, Start + Count) that <paramref name="rank"/> holds under sequence
    /// parallelism: shard number sp rank (= ulysses rank + U·ring rank) of Sp equal shards. Every rank must hold
    /// the same count (the all-to-all and the ring need equal shapes), so the token count must divide by Sp.</summary>
    public (int Start, int Count) SequenceShard(int rank, int tokens)
    {
        if (tokens % Sp != 0)
            throw new ArgumentException($"{tokens} image tokens do not split evenly over sequence-parallel degree {Sp} (ulysses {Ulysses} × ring {Ring}); choose degrees that divide the token count");
        int count = tokens / Sp;
        return (CoordOf(rank).Sp * count, count);
    }

    /// <summary>Every distinct group along an axis, in order of their first rank.</summary>
    public int[][] Groups(MeshAxis axis) =>
        Enumerable.Range(0, WorldSize).Select(r => Group(axis, r)).DistinctBy(g => g[0]).OrderBy(g => g[0]).ToArray();

    /// <summary>The sub-communicator of <paramref name="world"/>'s rank along <paramref name="axis"/>
    /// (<paramref name="world"/> must span the whole mesh).</summary>
    public ICommunicator Communicator(ICommunicator world, MeshAxis axis)
    {
        if (world.Size != WorldSize)
            throw new ArgumentException($"mesh {this} needs a world communicator of {WorldSize} ranks, got {world.Size}");
        return world.Split(Group(axis, world.Rank));
    }

    public override string ToString() => $"world {WorldSize} = dp {Data} × cfg {Cfg} × pp {Pipe} × ulysses {Ulysses} × ring {Ring}";
}
