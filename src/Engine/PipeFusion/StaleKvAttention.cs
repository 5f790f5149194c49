using XDit.Comm;
using XDit.Engine.Parallel;
using XDit.Kernels;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Engine.PipeFusion;

/// <summary>
/// PipeFusion's attention (methods.md §1 "KV buffer rule"): every self-attention layer keeps K and V for the image
/// sequence, indexed by global token position. A full (warmup) call overwrites the whole buffer and attends
/// normally; a patch call writes the patch's fresh K/V into its slice, then the patch's queries attend the whole
/// buffer, so they see fresh K/V of the patches this layer already ran in the current step and one-step-stale K/V
/// of the others. Cross-attention (PixArt's text) and the joint text K/V (SD3/Flux) are never buffered: they are
/// used fresh on every call, and counted once in the softmax.
/// Sequence parallelism inside the stage (methods.md §1 "Hybrid SP + PipeFusion", as xDiT): each patch is cut into
/// ulysses × ring sub-bands (sp rank = ulysses rank + U·ring rank). After Ulysses' all-to-all a ring rank g holds,
/// for its head slice, the g-th of R equal chunks of every patch (its "share"), and its buffer covers exactly its
/// share of all patches, laid end to end in patch order. A patch call refreshes the rank's slice of its share, then
/// the ring passes each rank's whole buffer (fresh and stale slices) around and the partial outputs merge by
/// log-sum-exp. A full call carries the rank's contiguous 1/R of the sequence: it runs plain ring attention on the
/// fresh K/V and, as each block goes by, copies the part that falls in this rank's share into the buffer.
/// Before the first full call (warmup 0) the buffer is empty and fills patch by patch: a patch then attends the
/// prefix written so far (itself and the patches before it in this step; the same prefix on every ring rank).
/// ReLU linear attention (SANA) keeps, by the same rule, each patch's key/value sums instead of K/V
/// (<see cref="StaleLinearSums"/>), and a layer that mixes neighbouring grid rows (SANA's Mix-FFN) gets the whole
/// grid through <see cref="ITokenGather"/>: the patch's rows over the latest rows of the others
/// (<see cref="StaleTokenGrid"/>). Both need the patch ranges.
/// </summary>
public sealed class StaleKvAttention : IAttention, ITokenGather, IDisposable
{
    sealed class Buffer(Tensor k, Tensor v)
    {
        public readonly Tensor K = k, V = v;
        /// <summary>Buffer slots [0, Valid) hold values; the rest were never written.</summary>
        public int Valid;
    }

    /// <summary>A run of this rank's share: global tokens [Global, Global + Count) at buffer slot Slot.</summary>
    readonly record struct Segment(int Global, int Count, int Slot);

    readonly Dictionary<string, Buffer> _buffers = new();
    readonly ICommunicator? _ulysses, _ring;
    readonly Segment[] _segments;
    readonly (int Start, int Count)[]? _patches;
    readonly StaleLinearSums? _linear;
    readonly StaleTokenGrid _grid;
    int _slot, _count = -1;
    // the announced range before the Ulysses all-to-all and the ring split: global tokens [_start, _start + _tokens)
    // of patch _patch (−1: the full image, or a range of no announced patch)
    int _start, _tokens, _patch = -1;
    bool _full;

    /// <param name="totalTokens">Image tokens of the whole image.</param>
    /// <param name="ulysses">The Ulysses group inside the stage, or null when the stage runs on one rank.</param>
    public StaleKvAttention(int totalTokens, ICommunicator? ulysses = null) : this(totalTokens, ulysses, null, null) { }

    /// <param name="totalTokens">Image tokens of the whole image.</param>
    /// <param name="ulysses">The Ulysses group inside the stage (null: none).</param>
    /// <param name="ring">The Ring group inside the stage (null: none).</param>
    /// <param name="patches">The patches' global token ranges, in order, tiling the image; needed with a ring (each
    /// splits into R equal chunks); without one, any range may be announced.</param>
    public StaleKvAttention(int totalTokens, ICommunicator? ulysses, ICommunicator? ring, IReadOnlyList<(int Start, int Count)>? patches)
    {
        if (totalTokens < 1) throw new ArgumentOutOfRangeException(nameof(totalTokens), $"the image must have at least one token, got {totalTokens}");
        TotalTokens = totalTokens;
        _ulysses = ulysses is { Size: > 1 } ? ulysses : null;
        _ring = ring is { Size: > 1 } ? ring : null;
        int R = _ring?.Size ?? 1, g = _ring?.Rank ?? 0;
        if (patches is null)
        {
            if (R > 1) throw new ArgumentException($"StaleKvAttention with ring degree {R}: the patch ranges are needed to know each ring rank's share of the buffer");
            _segments = [new Segment(0, totalTokens, 0)];
        }
        else
        {
            _patches = patches.ToArray();
            _segments = new Segment[_patches.Length];
            int at = 0, slot = 0;
            for (int i = 0; i < _patches.Length; i++)
            {
                var (start, count) = _patches[i];
                if (start != at || count < 1 || count % R != 0)
                    throw new ArgumentException($"StaleKvAttention: patch {i} [{start}, {start + count}) must start at token {at}, be non-empty and split into {R} equal ring chunks");
                int c = count / R;
                _segments[i] = new Segment(start + g * c, c, slot);
                at += count; slot += c;
            }
            if (at != totalTokens)
                throw new ArgumentException($"StaleKvAttention: the patches cover {at} tokens, the image has {totalTokens}");
        }
        ShareTokens = _segments.Sum(s => s.Count);
        _linear = _patches is null ? null : new StaleLinearSums(_patches);
        _grid = new StaleTokenGrid(totalTokens);
        if (R > 1 && totalTokens % R != 0)
            throw new ArgumentException($"StaleKvAttention: {totalTokens} tokens do not split over ring degree {R}");
    }

    public int TotalTokens { get; }
    /// <summary>Image tokens this rank buffers (its ring share of the whole sequence).</summary>
    public int ShareTokens { get; }

    /// <summary>Bytes held by the stale buffers of every layer seen so far on this rank: K and V, linear attention's
    /// per-patch sums, the token grids of layers that mix neighbouring rows.</summary>
    public long BufferBytes => _buffers.Values.Sum(b => b.K.ByteCount + b.V.ByteCount) + (_linear?.Bytes ?? 0) + _grid.Bytes;
    /// <summary>Softmax self-attention layers with a K/V buffer.</summary>
    public int LayerCount => _buffers.Count;

    /// <summary>Next calls carry the whole image sequence (after the Ulysses all-to-all, this ring rank's contiguous
    /// 1/R of it): the buffer is replaced.</summary>
    public void SetFull() { _full = true; _slot = 0; _count = TotalTokens / (_ring?.Size ?? 1); _start = 0; _tokens = TotalTokens; _patch = -1; }

    /// <summary>Next calls carry the patch of global tokens [start, start + count) (after the Ulysses all-to-all,
    /// this ring rank's chunk of it).</summary>
    public void SetPatch(int start, int count)
    {
        if (start < 0 || count < 1 || start + count > TotalTokens)
            throw new ArgumentOutOfRangeException(nameof(start), $"patch tokens [{start}, {start + count}) are outside the image's {TotalTokens} tokens");
        _full = false;
        _start = start; _tokens = count; _patch = -1;
        if (_patches is null) { _slot = start; _count = count; return; }
        int i = Array.IndexOf(_patches, (start, count));
        if (i < 0)
            throw new ArgumentException($"StaleKvAttention: [{start}, {start + count}) is not one of the announced patches ({string.Join(", ", _patches.Select(p => $"[{p.Start}, {p.Start + p.Count})"))})");
        _slot = _segments[i].Slot; _count = _segments[i].Count; _patch = i;
    }

    public AttentionResult Run(IOps ops, AttentionCall call)
    {
        if (call.Kind == AttentionKind.Cross) return LocalAttention.Instance.Run(ops, call);
        if (_count < 0) throw new InvalidOperationException($"StaleKvAttention at {call.Layer}: SetFull or SetPatch must be called before the forward");
        if (call.Kind == AttentionKind.Linear) return RunLinear(ops, call);
        var opts = call.Options;
        if (opts?.KeyBias is not null || opts?.Bias is not null || opts?.Causal == true)
            throw new NotSupportedException($"StaleKvAttention at {call.Layer}: a key bias, an attention bias or a causal mask on image self-attention cannot be combined with a stale K/V buffer");

        int U = _ulysses?.Size ?? 1, u = _ulysses?.Rank ?? 0;
        int R = _ring?.Size ?? 1, g = _ring?.Rank ?? 0;
        int H = call.Q.Dim(2);
        if (H % U != 0)
            throw new ArgumentException($"StaleKvAttention at {call.Layer}: {H} heads do not divide by the ulysses degree {U}");
        int h = H / U;
        bool joint = call.JointQ is not null;

        var owned = new List<Tensor>();
        try
        {
            // Ulysses in: scatter heads, gather the sub-bands of this ring rank's chunk (one all-to-all for q, k, v).
            Tensor q, k, v;
            if (U > 1)
            {
                var qkv = Own(owned, ops.Concat(2, call.Q.Unsqueeze(2), call.K.Unsqueeze(2), call.V.Unsqueeze(2)));
                var gathered = Own(owned, _ulysses!.AllToAll(qkv, 3, 1));
                q = Select(gathered, 2, 0); k = Select(gathered, 2, 1); v = Select(gathered, 2, 2);
            }
            else { q = call.Q; k = call.K; v = call.V; }
            if (k.Dim(1) != _count)
                throw new ArgumentException($"StaleKvAttention at {call.Layer}: the call carries {k.Dim(1)} image tokens (after the all-to-all) but the loop announced {_count} ({(_full ? "full image" : $"patch at buffer slot {_slot}")})");

            int n = q.Dim(1);
            Tensor? jk = null, jv = null;
            if (joint)
            {
                var jq = call.JointQ!; jk = call.JointK!; jv = call.JointV!;
                if (U > 1) { jq = jq.Slice(2, u * h, h); jk = jk.Slice(2, u * h, h); jv = jv.Slice(2, u * h, h); }
                q = Own(owned, ops.Concat(1, q, jq));
            }
            var plain = opts is null ? null : opts with { KeyBias = null };
            var buf = BufferOf(ops, call.Layer, k, v);
            Tensor o;
            if (_full)
            {
                // Exact ring attention on the fresh K/V; every block passes by, so the share is copied as it goes.
                int block = _count;
                o = SequenceParallelAttention.RingLoop(ops, _ring, g, R, q, k, v, null, jk, jv, null, call.JointFirst, plain, owned,
                    (src, kb, vb) => CopyShare(ops, buf, src * block, kb, vb));
                buf.Valid = ShareTokens;
            }
            else
            {
                if (_slot > buf.Valid)
                    throw new InvalidOperationException($"StaleKvAttention at {call.Layer}: patch tokens start at buffer slot {_slot} but only [0, {buf.Valid}) were ever written; before the first full step patches must come in order");
                ops.Copy(buf.K.Slice(1, _slot, _count), k);
                ops.Copy(buf.V.Slice(1, _slot, _count), v);
                buf.Valid = Math.Max(buf.Valid, _slot + _count);
                // The ring passes each rank's whole buffer: its fresh slice and its stale ones.
                o = SequenceParallelAttention.RingLoop(ops, _ring, g, R, q, buf.K.Slice(1, 0, buf.Valid), buf.V.Slice(1, 0, buf.Valid),
                    null, jk, jv, null, call.JointFirst, plain, owned);
            }

            var img = o.Slice(1, 0, n);
            var imgOut = U > 1 ? _ulysses!.AllToAll(img, 1, 2) : ops.Contiguous(img);
            Tensor? txtOut = null;
            if (joint)
            {
                int T = o.Dim(1) - n;
                try { txtOut = U > 1 ? _ulysses!.AllGather(o.Slice(1, n, T), 2) : ops.Contiguous(o.Slice(1, n, T)); }
                catch { imgOut.Dispose(); throw; }
            }
            return new AttentionResult(imgOut, txtOut);
        }
        finally { foreach (var t in owned) t.Dispose(); }
    }

    /// <summary>ReLU linear attention: no all-to-all and no ring (the sums are all-reduced instead, as plain sequence
    /// parallelism does); this rank's tokens are its strip u + U·g of the announced range.</summary>
    AttentionResult RunLinear(IOps ops, AttentionCall call)
    {
        if (call.JointQ is not null || call.Options is not null)
            throw new NotSupportedException($"StaleKvAttention at {call.Layer}: linear attention takes no joint tokens and no options");
        if (_linear is null)
            throw new InvalidOperationException($"StaleKvAttention at {call.Layer}: linear attention keeps one key/value sum per patch, so the patch ranges must be given to the constructor");
        if (!_full && _patch < 0)
            throw new InvalidOperationException($"StaleKvAttention at {call.Layer}: linear attention needs the announced range to be one of the patches");
        int sp = (_ulysses?.Size ?? 1) * (_ring?.Size ?? 1), spRank = (_ulysses?.Rank ?? 0) + (_ulysses?.Size ?? 1) * (_ring?.Rank ?? 0);
        int n = call.K.Dim(1);
        if (n * sp != _tokens)
            throw new ArgumentException($"StaleKvAttention at {call.Layer}: the call carries {n} image tokens on each of {sp} sequence-parallel ranks but the loop announced {_tokens} ({(_full ? "full image" : $"patch {_patch}")})");
        using var sums = _full
            ? _linear.Full(ops, call.Layer, call.K, call.V, _start + spRank * n, _ulysses, _ring)
            : _linear.Patch(ops, call.Layer, call.K, call.V, _patch, _ulysses, _ring);
        return new AttentionResult(ops.LinearAttentionApply(call.Q, sums, LocalAttention.LinearEps), null);
    }

    /// <summary>The whole token grid for a layer that mixes neighbouring rows: this rank's rows gathered over the
    /// stage's sequence-parallel group (the announced range, as plain sequence parallelism gathers), written into
    /// the layer's stale grid, which is handed back (a view of it).</summary>
    public Tensor GatherTokens(IOps ops, Tensor local, string layer)
    {
        if (_count < 0) throw new InvalidOperationException($"StaleKvAttention at {layer}: SetFull or SetPatch must be called before the forward");
        using var gathered = _ulysses is null && _ring is null ? null : SequenceParallelAttention.GatherTokens(local, _ulysses, _ring);
        var rows = gathered ?? local;
        if (rows.Rank != 3 || rows.Dim(1) != _tokens)
            throw new ArgumentException($"StaleKvAttention at {layer}: the gathered rows {Shape.Format(rows.ShapeSpan)} are not the {_tokens} tokens the loop announced ({(_full ? "full image" : $"patch at token {_start}")})");
        return _grid.Write(ops, layer, rows, _start);
    }

    /// <summary>The layer's buffer (allocated on first use: [B, share, heads, d]).</summary>
    Buffer BufferOf(IOps ops, string layer, Tensor k, Tensor v)
    {
        if (!_buffers.TryGetValue(layer, out var buf))
        {
            int[] shape = [k.Dim(0), ShareTokens, k.Dim(2), k.Dim(3)];
            buf = new Buffer(ops.Empty(k.DType, shape), ops.Empty(v.DType, shape));
            _buffers[layer] = buf;
        }
        else if (buf.K.Dim(0) != k.Dim(0) || buf.K.Dim(2) != k.Dim(2) || buf.K.Dim(3) != k.Dim(3))
            throw new ArgumentException($"StaleKvAttention at {layer}: K {Shape.Format(k.ShapeSpan)} does not fit the buffer {Shape.Format(buf.K.ShapeSpan)} (batch, heads and head size must stay the same)");
        return buf;
    }

    /// <summary>Copies the part of a K/V block of global tokens [first, first + block length) that lies in this
    /// rank's share into the buffer slots of that share.</summary>
    void CopyShare(IOps ops, Buffer buf, int first, Tensor k, Tensor v)
    {
        int last = first + k.Dim(1);
        foreach (var s in _segments)
        {
            int a = Math.Max(first, s.Global), b = Math.Min(last, s.Global + s.Count);
            if (a >= b) continue;
            ops.Copy(buf.K.Slice(1, s.Slot + a - s.Global, b - a), k.Slice(1, a - first, b - a));
            ops.Copy(buf.V.Slice(1, s.Slot + a - s.Global, b - a), v.Slice(1, a - first, b - a));
        }
    }

    /// <summary>Frees every buffer (the next call starts empty again).</summary>
    public void Clear()
    {
        foreach (var b in _buffers.Values) { b.K.Dispose(); b.V.Dispose(); }
        _buffers.Clear();
        _linear?.Dispose();
        _grid.Dispose();
        _count = -1;
    }

    public void Dispose() => Clear();

    static Tensor Own(List<Tensor> owned, Tensor t) { owned.Add(t); return t; }

    /// <summary>The view at <paramref name="index"/> of <paramref name="axis"/>, that axis dropped.</summary>
    static Tensor Select(Tensor t, int axis, int index)
    {
        var shape = t.Dims.Where((_, i) => i != axis).ToArray();
        var strides = t.Strides.ToArray().Where((_, i) => i != axis).ToArray();
        return new Tensor(t.Storage, t.DType, shape, strides, t.Offset + index * t.Strides[axis]);
    }
}
