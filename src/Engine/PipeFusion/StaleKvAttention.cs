using XDit.Comm;
using XDit.Kernels;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Engine.PipeFusion;

/// <summary>
/// PipeFusion's attention (methods.md §1 "KV buffer rule"): every self-attention layer keeps K and V for the whole
/// image sequence, indexed by global token position. A full (warmup) call overwrites the whole buffer and attends
/// normally; a patch call writes the patch's fresh K/V into its slice, then the patch's queries attend the whole
/// buffer, so they see fresh K/V of the patches this layer already ran in the current step and one-step-stale K/V
/// of the others. Cross-attention (PixArt's text) and the joint text K/V (SD3/Flux) are never buffered: they are
/// used fresh on every call. With Ulysses inside the stage the buffer is written after the all-to-all, so each
/// Ulysses rank buffers every token of the patch for its own head slice.
/// Before the first full call (warmup 0) the buffer is empty and fills patch by patch: a patch then attends the
/// prefix written so far (itself and the patches before it in this step).
/// </summary>
public sealed class StaleKvAttention : IAttention, IDisposable
{
    sealed class Buffer(Tensor k, Tensor v)
    {
        public readonly Tensor K = k, V = v;
        /// <summary>Tokens [0, Valid) hold values; the rest were never written.</summary>
        public int Valid;
    }

    readonly Dictionary<string, Buffer> _buffers = new();
    readonly ICommunicator? _ulysses;
    int _start, _count = -1;
    bool _full;

    /// <param name="totalTokens">Image tokens of the whole image (the buffer length).</param>
    /// <param name="ulysses">The Ulysses group inside the stage, or null when the stage runs on one rank.</param>
    public StaleKvAttention(int totalTokens, ICommunicator? ulysses = null)
    {
        if (totalTokens < 1) throw new ArgumentOutOfRangeException(nameof(totalTokens), $"the image must have at least one token, got {totalTokens}");
        TotalTokens = totalTokens;
        _ulysses = ulysses is { Size: > 1 } ? ulysses : null;
    }

    public int TotalTokens { get; }

    /// <summary>Bytes held by the K and V buffers of every layer seen so far on this rank.</summary>
    public long BufferBytes => _buffers.Values.Sum(b => b.K.ByteCount + b.V.ByteCount);
    public int LayerCount => _buffers.Count;

    /// <summary>Next calls carry the whole image sequence (after the Ulysses all-to-all): the buffer is replaced.</summary>
    public void SetFull() { _full = true; _start = 0; _count = TotalTokens; }

    /// <summary>Next calls carry the patch of global tokens [start, start + count) (after the Ulysses all-to-all).</summary>
    public void SetPatch(int start, int count)
    {
        if (start < 0 || count < 1 || start + count > TotalTokens)
            throw new ArgumentOutOfRangeException(nameof(start), $"patch tokens [{start}, {start + count}) are outside the image's {TotalTokens} tokens");
        _full = false; _start = start; _count = count;
    }

    public AttentionResult Run(IOps ops, AttentionCall call)
    {
        if (call.Kind == AttentionKind.Cross) return LocalAttention.Instance.Run(ops, call);
        if (_count < 0) throw new InvalidOperationException($"StaleKvAttention at {call.Layer}: SetFull or SetPatch must be called before the forward");
        var opts = call.Options;
        if (opts?.KeyBias is not null || opts?.Bias is not null || opts?.Causal == true)
            throw new NotSupportedException($"StaleKvAttention at {call.Layer}: a key bias, an attention bias or a causal mask on image self-attention cannot be combined with a stale K/V buffer");

        int U = _ulysses?.Size ?? 1, u = _ulysses?.Rank ?? 0;
        int H = call.Q.Dim(2);
        if (H % U != 0)
            throw new ArgumentException($"StaleKvAttention at {call.Layer}: {H} heads do not divide by the ulysses degree {U}");
        int h = H / U;
        bool joint = call.JointQ is not null;

        var owned = new List<Tensor>();
        try
        {
            // Ulysses in: scatter heads, gather the patch's tokens (one all-to-all for q, k, v).
            Tensor q, k, v;
            if (U > 1)
            {
                var qkv = Own(owned, ops.Concat(2, call.Q.Unsqueeze(2), call.K.Unsqueeze(2), call.V.Unsqueeze(2)));
                var gathered = Own(owned, _ulysses!.AllToAll(qkv, 3, 1));
                q = Select(gathered, 2, 0); k = Select(gathered, 2, 1); v = Select(gathered, 2, 2);
            }
            else { q = call.Q; k = call.K; v = call.V; }
            if (k.Dim(1) != _count)
                throw new ArgumentException($"StaleKvAttention at {call.Layer}: the call carries {k.Dim(1)} image tokens (after the all-to-all) but the loop announced {_count} ({(_full ? "full image" : $"patch at token {_start}")})");

            var buf = Write(ops, call.Layer, k, v);
            Tensor keys = buf.K.Slice(1, 0, buf.Valid), vals = buf.V.Slice(1, 0, buf.Valid);

            int n = q.Dim(1), T = 0;
            if (joint)
            {
                var jq = call.JointQ!; var jk = call.JointK!; var jv = call.JointV!;
                if (U > 1) { jq = jq.Slice(2, u * h, h); jk = jk.Slice(2, u * h, h); jv = jv.Slice(2, u * h, h); }
                T = jq.Dim(1);
                q = Own(owned, ops.Concat(1, q, jq));
                keys = Own(owned, call.JointFirst ? ops.Concat(1, jk, keys) : ops.Concat(1, keys, jk));
                vals = Own(owned, call.JointFirst ? ops.Concat(1, jv, vals) : ops.Concat(1, vals, jv));
            }
            var o = Own(owned, ops.Attention(q, keys, vals, opts));

            var img = o.Slice(1, 0, n);
            var imgOut = U > 1 ? _ulysses!.AllToAll(img, 1, 2) : ops.Contiguous(img);
            Tensor? txtOut = null;
            if (joint)
            {
                try { txtOut = U > 1 ? _ulysses!.AllGather(o.Slice(1, n, T), 2) : ops.Contiguous(o.Slice(1, n, T)); }
                catch { imgOut.Dispose(); throw; }
            }
            return new AttentionResult(imgOut, txtOut);
        }
        finally { foreach (var t in owned) t.Dispose(); }
    }

    /// <summary>Writes this call's K/V into the layer's buffer (allocated on first use) and returns it.</summary>
    Buffer Write(IOps ops, string layer, Tensor k, Tensor v)
    {
        if (!_buffers.TryGetValue(layer, out var buf))
        {
            int[] shape = [k.Dim(0), TotalTokens, k.Dim(2), k.Dim(3)];
            buf = new Buffer(ops.Empty(k.DType, shape), ops.Empty(v.DType, shape));
            _buffers[layer] = buf;
        }
        else if (buf.K.Dim(0) != k.Dim(0) || buf.K.Dim(2) != k.Dim(2) || buf.K.Dim(3) != k.Dim(3))
            throw new ArgumentException($"StaleKvAttention at {layer}: K {Shape.Format(k.ShapeSpan)} does not fit the buffer {Shape.Format(buf.K.ShapeSpan)} (batch, heads and head size must stay the same)");
        if (_start > buf.Valid)
            throw new InvalidOperationException($"StaleKvAttention at {layer}: patch tokens start at {_start} but only [0, {buf.Valid}) were ever written; before the first full step patches must come in order");
        ops.Copy(buf.K.Slice(1, _start, _count), k);
        ops.Copy(buf.V.Slice(1, _start, _count), v);
        buf.Valid = Math.Max(buf.Valid, _start + _count);
        return buf;
    }

    /// <summary>Frees every buffer (the next call starts empty again).</summary>
    public void Clear()
    {
        foreach (var b in _buffers.Values) { b.K.Dispose(); b.V.Dispose(); }
        _buffers.Clear();
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
