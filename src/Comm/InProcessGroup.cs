using XDit.Runtime;

namespace XDit.Comm;

/// <summary>
/// Rendezvous state of one group of in-process ranks: numbered collective slots (each member's n-th collective
/// call meets the others' n-th) and FIFO mailboxes for point-to-point messages. Everything is guarded by the
/// world's lock; the data exchanged are host copies that nobody writes after posting them.
/// </summary>
sealed class InProcessGroup
{
    sealed class Slot(string op, int size)
    {
        public readonly string Op = op;
        public readonly Tensor?[] Items = new Tensor?[size];
        public int Arrived, Left;
    }

    readonly InProcessWorld _world;
    readonly Dictionary<long, Slot> _slots = new();
    readonly long[] _nextSeq;
    readonly Dictionary<(int Src, int Dst, int Tag), Queue<Tensor>> _mail = new();

    public InProcessGroup(InProcessWorld world, int[] worldRanks)
    {
        _world = world;
        WorldRanks = worldRanks;
        _nextSeq = new long[worldRanks.Length];
    }

    public int[] WorldRanks { get; }
    public int Size => WorldRanks.Length;
    public string Name => "[" + string.Join(",", WorldRanks) + "]";

    /// <summary>Posts this member's contribution to its next collective and returns everyone's, by group rank.
    /// A member whose call differs from the others' (another op at the same position) gets an error.</summary>
    public Tensor?[] Exchange(int member, string op, Tensor? item)
    {
        lock (_world.Lock)
        {
            long seq = _nextSeq[member]++;
            string what = $"{op} #{seq} on rank {member} of group {Name}";
            _world.ThrowIfAborted(what);
            if (!_slots.TryGetValue(seq, out var slot)) _slots[seq] = slot = new Slot(op, Size);
            if (slot.Op != op)
                throw new InvalidOperationException($"{what}: the other ranks called {slot.Op} as their collective #{seq}: every rank must call the same collectives in the same order");
            slot.Items[member] = item;
            if (++slot.Arrived == Size) Monitor.PulseAll(_world.Lock);
            _world.WaitUntil(() => slot.Arrived == Size, what,
                () => $"group ranks that never arrived: [{string.Join(",", Missing(slot))}]",
                () => Missing(slot).Where(r => _world.HasExited(WorldRanks[r])).Select(r => $"group rank {r} (world rank {WorldRanks[r]}) returned without making this call").FirstOrDefault());
            if (++slot.Left == Size) _slots.Remove(seq);
            return slot.Items;
        }
    }

    IEnumerable<int> Missing(Slot slot)
    {
        // Items are null for Barrier/Broadcast members too, so go by the sequence counters instead.
        long seq = _slots.First(kv => ReferenceEquals(kv.Value, slot)).Key;
        for (int r = 0; r < Size; r++) if (_nextSeq[r] <= seq) yield return r;
    }

    public void Post(int src, int dst, int tag, Tensor message)
    {
        lock (_world.Lock)
        {
            _world.ThrowIfAborted($"Send from rank {src} to rank {dst} (tag {tag}) in group {Name}");
            var key = (src, dst, tag);
            if (!_mail.TryGetValue(key, out var q)) _mail[key] = q = new Queue<Tensor>();
            q.Enqueue(message);
            Monitor.PulseAll(_world.Lock);
        }
    }

    public Tensor Take(int src, int dst, int tag)
    {
        lock (_world.Lock)
        {
            var key = (src, dst, tag);
            string what = $"Recv on rank {dst} from rank {src} (tag {tag}) in group {Name}";
            _world.WaitUntil(() => _mail.TryGetValue(key, out var q) && q.Count > 0, what, () => $"rank {src} sent nothing",
                () => _world.HasExited(WorldRanks[src]) ? $"rank {src} returned without sending it" : null);
            return _mail[key].Dequeue();
        }
    }
}
