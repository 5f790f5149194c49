using XDit.Comm;
using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Engine.PipeFusion;

/// <summary>
/// PipeFusion's stale buffer for ReLU linear attention (SANA): its key/value sums (<see cref="IOps.LinearAttentionSums"/>,
/// float32 [B, H, D + 1, D]) add over tokens, so per layer each patch's contribution is kept, summed over its tokens
/// on every sequence-parallel rank of the stage (all-reduced over the Ulysses and the Ring group, as plain sequence
/// parallelism does). A patch call replaces its own contribution with the fresh one and attends the sum of all:
/// fresh for itself and the patches this layer already ran in this step, one step stale for the others (the rule
/// <see cref="StaleKvAttention"/> applies to K/V). A full call (warm-up) writes every patch's contribution from the
/// rank's contiguous shard (its intersection with each patch; the all-reduce completes them). Before the first full
/// call the contributions are zero, so a patch attends the patches written so far (the K/V prefix rule).
/// </summary>
sealed class StaleLinearSums : IDisposable
{
    readonly Dictionary<string, Tensor> _sums = new();   // layer → [P, B, H, D + 1, D], patch p's contribution at p
    readonly (int Start, int Count)[] _patches;

    public StaleLinearSums(IReadOnlyList<(int Start, int Count)> patches) => _patches = patches.ToArray();

    /// <summary>Bytes of every layer's contributions.</summary>
    public long Bytes => _sums.Values.Sum(t => t.ByteCount);

    /// <summary>Full call: k, v [B, n, H, D] are global tokens [start, start + n). Refreshes every patch's
    /// contribution and returns the total (the caller disposes it).</summary>
    public Tensor Full(IOps ops, string layer, Tensor k, Tensor v, int start, ICommunicator? ulysses, ICommunicator? ring)
    {
        var buf = BufferOf(ops, layer, k);
        int end = start + k.Dim(1);
        for (int p = 0; p < _patches.Length; p++)
        {
            var (s, c) = _patches[p];
            int a = Math.Max(start, s), b = Math.Min(end, s + c);
            // a patch outside this rank's shard contributes nothing here; the all-reduce brings the other ranks' part
            using var part = b > a
                ? ops.LinearAttentionSums(k.Slice(1, a - start, b - a), v.Slice(1, a - start, b - a))
                : ops.Zeros(DType.F32, SumsShape(k));
            ops.Copy(Slot(buf, p), part);
        }
        ulysses?.AllReduce(buf);
        ring?.AllReduce(buf);
        return Total(ops, buf);
    }

    /// <summary>Patch call: k, v [B, n, H, D] are this rank's strip of patch <paramref name="patch"/>. Replaces the
    /// patch's contribution and returns the total (the caller disposes it).</summary>
    public Tensor Patch(IOps ops, string layer, Tensor k, Tensor v, int patch, ICommunicator? ulysses, ICommunicator? ring)
    {
        var buf = BufferOf(ops, layer, k);
        using (var fresh = ops.LinearAttentionSums(k, v))
        {
            ulysses?.AllReduce(fresh);
            ring?.AllReduce(fresh);
            ops.Copy(Slot(buf, patch), fresh);
        }
        return Total(ops, buf);
    }

    /// <summary>Σ_p of the contributions, in patch order.</summary>
    Tensor Total(IOps ops, Tensor buf)
    {
        var total = ops.Contiguous(Slot(buf, 0));
        for (int p = 1; p < _patches.Length; p++)
        {
            var next = ops.Add(total, Slot(buf, p));
            total.Dispose();
            total = next;
        }
        return total;
    }

    static int[] SumsShape(Tensor k) => [k.Dim(0), k.Dim(2), k.Dim(3) + 1, k.Dim(3)];

    static Tensor Slot(Tensor buf, int p) => buf.Slice(0, p, 1).Reshape(buf.Dims[1..]);

    /// <summary>The layer's contributions (zeros on first use).</summary>
    Tensor BufferOf(IOps ops, string layer, Tensor k)
    {
        var shape = SumsShape(k);
        if (!_sums.TryGetValue(layer, out var buf))
        {
            buf = ops.Zeros(DType.F32, [_patches.Length, .. shape]);
            _sums[layer] = buf;
        }
        else if (!Shape.Equal(buf.ShapeSpan[1..], shape))
            throw new ArgumentException($"StaleKvAttention at {layer}: linear attention sums {Shape.Format(shape)} do not fit the stale ones {Shape.Format(buf.ShapeSpan[1..])} (batch, heads and head size must stay the same)");
        return buf;
    }

    public void Dispose()
    {
        foreach (var t in _sums.Values) t.Dispose();
        _sums.Clear();
    }
}
