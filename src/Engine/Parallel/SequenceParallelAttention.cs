using XDit.Comm;
using XDit.Kernels;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Engine.Parallel;

/// <summary>
/// USP (methods.md §3, xdit.md §4): Ulysses all-to-all inside the Ulysses group, then ring attention over the Ring
/// group on the head shard, then the inverse all-to-all. Ulysses alone is a ring of one; Ring alone is a Ulysses
/// group of one. Every rank of the sp group holds a contiguous shard of the image tokens (shard = ulysses rank +
/// U·ring rank) and the full text.
///
/// Joint text (SD3 rear, Flux front) is never communicated on the way in: each rank slices its head group out of
/// the replicated text q/k/v; the text queries ride along with the image queries; the text keys/values join the
/// image ones in exactly one ring step (the first for front, the last for rear), so they count once in the
/// softmax. The text rows of the output are all-gathered over heads at the end, so every rank has them all.
///
/// Options.KeyBias is read as the single-rank call reads it, over the keys this rank was given in concatenated
/// order: [B, n] without joint tokens, [B, T + n] (text first or last as the model says) with them; with joint
/// tokens a [B, T] bias on the text keys alone is accepted too. Image-key bias travels with its keys.
/// </summary>
static class SequenceParallelAttention
{
    public static AttentionResult Run(IOps ops, AttentionCall call, ICommunicator? ulysses, ICommunicator? ring, string who)
    {
        if (call.Kind == AttentionKind.Cross)
            return LocalAttention.Instance.Run(ops, call); // text K/V are replicated: nothing to exchange
        if (call.Kind == AttentionKind.Linear)
            return RunLinear(ops, call, ulysses, ring, who);
        var opts = call.Options;
        if (opts?.Bias is not null)
            throw new NotSupportedException($"{who} at {call.Layer}: a per-(head, query, key) bias cannot be split over the sequence; only KeyBias is supported");
        if (opts?.Causal == true)
            throw new NotSupportedException($"{who} at {call.Layer}: causal attention is not supported under sequence parallelism (DiT attention is not causal)");

        int U = ulysses?.Size ?? 1, R = ring?.Size ?? 1;
        int u = ulysses?.Rank ?? 0, g = ring?.Rank ?? 0;
        var (B, n, H, d) = Dims4(call.Q, "Q", call.Layer);
        CheckSame(call.K, call.Q, "K", call.Layer);
        CheckSame(call.V, call.Q, "V", call.Layer);
        if (H % U != 0)
            throw new ArgumentException($"{who} at {call.Layer}: {H} attention heads do not divide by the ulysses degree {U}; choose a ulysses degree that divides the head count");
        int h = H / U;

        bool joint = call.JointQ is not null;
        int T = 0;
        if (joint)
        {
            if (call.JointK is null || call.JointV is null)
                throw new ArgumentException($"{who} at {call.Layer}: JointQ is set but JointK or JointV is missing");
            var (jb, jt, jh, jd) = Dims4(call.JointQ!, "JointQ", call.Layer);
            if (jb != B || jh != H || jd != d)
                throw new ArgumentException($"{who} at {call.Layer}: JointQ {Shape.Format(call.JointQ!.ShapeSpan)} does not match Q {Shape.Format(call.Q.ShapeSpan)} in batch, heads or head size");
            T = jt;
            CheckSame(call.JointK, call.JointQ!, "JointK", call.Layer);
            CheckSame(call.JointV, call.JointQ!, "JointV", call.Layer);
        }
        var (imgBias, txtBias) = SplitKeyBias(opts?.KeyBias, joint, call.JointFirst, n, T, who, call.Layer);

        var owned = new List<Tensor>();
        try
        {
            // ---- Ulysses in: scatter heads, gather the sequence (one all-to-all for q, k and v together) ----
            Tensor q, k, v;
            Tensor? bias = imgBias;
            if (U > 1)
            {
                var qkv = Own(owned, ops.Concat(2, call.Q.Unsqueeze(2), call.K.Unsqueeze(2), call.V.Unsqueeze(2))); // [B, n, 3, H, d]
                var gathered = Own(owned, ulysses!.AllToAll(qkv, 3, 1));                                             // [B, U·n, 3, h, d]
                q = gathered.Select(2, 0);
                k = gathered.Select(2, 1);
                v = gathered.Select(2, 2);
                if (imgBias is not null) bias = Own(owned, ulysses.AllGather(imgBias, 1));                           // [B, U·n]
            }
            else { q = call.Q; k = call.K; v = call.V; }
            int L = q.Dim(1);

            Tensor? jk = null, jv = null;
            if (joint)
            {
                jk = call.JointK!.Slice(2, u * h, h);
                jv = call.JointV!.Slice(2, u * h, h);
                q = Own(owned, ops.Concat(1, q, call.JointQ!.Slice(2, u * h, h)));                                  // [B, L + T, h, d]
            }

            // ---- Ring: pass K/V (and their bias) around, merge partial outputs by log-sum-exp ----
            var o = RingLoop(ops, ring, g, R, q, k, v, bias, jk, jv, txtBias, call.JointFirst, opts, owned);

            // ---- Ulysses out: scatter the sequence, gather heads; text rows gathered over heads ----
            var img = o.Slice(1, 0, L);
            var imgOut = U > 1 ? ulysses!.AllToAll(img, 1, 2) : ops.Contiguous(img);
            Tensor? txtOut = null;
            if (joint)
            {
                try { txtOut = U > 1 ? ulysses!.AllGather(o.Slice(1, L, T), 2) : ops.Contiguous(o.Slice(1, L, T)); }
                catch { imgOut.Dispose(); throw; }
            }
            return new AttentionResult(imgOut, txtOut);
        }
        finally
        {
            foreach (var t in owned) t.Dispose();
        }
    }

    /// <summary>Every shard's rows of <paramref name="local"/> [B, n, C] in sequence order: all-gathered over the
    /// Ulysses group (shards u = 0..U−1 of this ring rank, consecutive), then over the Ring group (ring ranks in
    /// order), since shard = u + U·g.</summary>
    internal static Tensor GatherTokens(Tensor local, ICommunicator? ulysses, ICommunicator? ring)
    {
        if (ulysses is null && ring is null) throw new InvalidOperationException("GatherTokens needs a Ulysses or a Ring group");
        if (ulysses is null) return ring!.AllGather(local, 1);
        var inRing = ulysses.AllGather(local, 1);
        if (ring is null) return inRing;
        using (inRing) return ring.AllGather(inRing, 1);
    }

    /// <summary>ReLU linear attention: every rank sums its own tokens' keys and values ([B, H, D + 1, D] float32), the
    /// sums are all-reduced over the Ulysses and the Ring group (together every shard of the sequence), and each rank
    /// applies them to its own queries. No keys or values travel; the output rows are this rank's.</summary>
    static AttentionResult RunLinear(IOps ops, AttentionCall call, ICommunicator? ulysses, ICommunicator? ring, string who)
    {
        if (call.JointQ is not null || call.Options is not null)
            throw new NotSupportedException($"{who} at {call.Layer}: linear attention takes no joint tokens and no options");
        var sums = ops.LinearAttentionSums(call.K, call.V);
        try
        {
            ulysses?.AllReduce(sums);
            ring?.AllReduce(sums);
            return new AttentionResult(ops.LinearAttentionApply(call.Q, sums, LocalAttention.LinearEps), null);
        }
        finally { sums.Dispose(); }
    }

    /// <summary>
    /// Basic (non-causal) ring: at step s this rank holds the K/V block of ring rank g − s. The exchange for the
    /// next step is posted before the block's attention so that a backend with asynchronous P2P overlaps them.
    /// The returned tensor is in <paramref name="owned"/>. <paramref name="onBlock"/>, when set, sees every K/V
    /// block with the ring rank it came from, while it is held (PipeFusion copies its share into a stale buffer).
    /// </summary>
    internal static Tensor RingLoop(IOps ops, ICommunicator? ring, int g, int R, Tensor q, Tensor k, Tensor v, Tensor? bias,
                           Tensor? jk, Tensor? jv, Tensor? txtBias, bool jointFirst, AttentionOptions? opts, List<Tensor> owned,
                           Action<int, Tensor, Tensor>? onBlock = null)
    {
        int B = q.Dim(0), Nq = q.Dim(1), h = q.Dim(2);
        Tensor? o = null, lse = null;
        int next = (g + 1) % R, prev = (g - 1 + R) % R;
        var current = new List<Tensor>();  // received K/V/bias in use (the first block belongs to the caller)
        var received = new List<Tensor>(); // buffers being filled for the next step
        try
        {
            for (int step = 0; step < R; step++)
            {
                Tensor? nk = null, nv = null, nb = null;
                var pending = new List<ICommRequest>();
                if (step < R - 1)
                {
                    nk = Own(received, ops.Empty(k.DType, k.Dims));
                    nv = Own(received, ops.Empty(v.DType, v.Dims));
                    pending.Add(ring!.SendRecvAsync(k, next, nk, prev, tag: 0));
                    pending.Add(ring.SendRecvAsync(v, next, nv, prev, tag: 1));
                    if (bias is not null)
                    {
                        nb = Own(received, ops.Empty(bias.DType, bias.Dims));
                        pending.Add(ring.SendRecvAsync(bias, next, nb, prev, tag: 2));
                    }
                }

                onBlock?.Invoke((g - step + R) % R, k, v);
                bool withText = jk is not null && step == (jointFirst ? 0 : R - 1);
                var scratch = new List<Tensor>();
                try
                {
                    Tensor keys = k, vals = v;
                    Tensor? keyBias = bias;
                    if (withText)
                    {
                        keys = Keep(scratch, jointFirst ? ops.Concat(1, jk!, k) : ops.Concat(1, k, jk!));
                        vals = Keep(scratch, jointFirst ? ops.Concat(1, jv!, v) : ops.Concat(1, v, jv!));
                        if (bias is not null || txtBias is not null)
                        {
                            int bb = (bias ?? txtBias)!.Dim(0);
                            var ib = bias ?? Keep(scratch, ops.Zeros(txtBias!.DType, bb, k.Dim(1)));
                            var tb = txtBias ?? Keep(scratch, ops.Zeros(bias!.DType, bb, jk!.Dim(1)));
                            keyBias = Keep(scratch, jointFirst ? ops.Concat(1, tb, ib) : ops.Concat(1, ib, tb));
                        }
                    }
                    var stepOpts = (opts ?? new AttentionOptions()) with { KeyBias = keyBias };
                    if (R == 1)
                        o = Own(owned, ops.Attention(q, keys, vals, stepOpts));
                    else if (o is null)
                    {
                        lse = Own(owned, ops.Empty(DType.F32, B, h, Nq));
                        o = Own(owned, ops.Attention(q, keys, vals, stepOpts, lse));
                    }
                    else
                    {
                        using var lseB = ops.Empty(DType.F32, B, h, Nq);
                        using var oB = ops.Attention(q, keys, vals, stepOpts, lseB);
                        ops.MergeAttention(o, lse!, oB, lseB);
                    }
                }
                finally { foreach (var t in scratch) t.Dispose(); }

                foreach (var p in pending) p.Wait();
                if (nk is not null)
                {
                    // The block just used is no longer needed once the next one has arrived.
                    foreach (var t in current) t.Dispose();
                    current.Clear();
                    current.AddRange(received);
                    received.Clear();
                    k = nk; v = nv!; bias = nb ?? bias;
                }
            }
        }
        finally { owned.AddRange(current); owned.AddRange(received); }
        return o!;
    }

    static (Tensor? Image, Tensor? Text) SplitKeyBias(Tensor? kb, bool joint, bool jointFirst, int n, int T, string who, string layer)
    {
        if (kb is null) return (null, null);
        if (kb.Rank != 2)
            throw new ArgumentException($"{who} at {layer}: KeyBias must be [B, keys], got {Shape.Format(kb.ShapeSpan)}");
        int nk = kb.Dim(1);
        if (!joint)
        {
            if (nk != n) throw new ArgumentException($"{who} at {layer}: KeyBias {Shape.Format(kb.ShapeSpan)} must cover the {n} local image keys");
            return (kb, null);
        }
        if (nk == T) return (null, kb);
        if (nk == T + n)
            return jointFirst ? (kb.Slice(1, T, n), kb.Slice(1, 0, T)) : (kb.Slice(1, 0, n), kb.Slice(1, n, T));
        throw new ArgumentException($"{who} at {layer}: KeyBias {Shape.Format(kb.ShapeSpan)} must cover the {T} text keys plus the {n} local image keys ({T + n}), or the {T} text keys alone");
    }

    static (int, int, int, int) Dims4(Tensor t, string name, string layer)
    {
        if (t.Rank != 4) throw new ArgumentException($"attention at {layer}: {name} must be [B, N, H, d], got {Shape.Format(t.ShapeSpan)}");
        return (t.Dim(0), t.Dim(1), t.Dim(2), t.Dim(3));
    }

    static void CheckSame(Tensor? t, Tensor like, string name, string layer)
    {
        if (t is null || !Shape.Equal(t.ShapeSpan, like.ShapeSpan))
            throw new ArgumentException($"attention at {layer}: {name} {(t is null ? "is missing" : Shape.Format(t.ShapeSpan))}; expected {Shape.Format(like.ShapeSpan)} (sequence-parallel attention needs K and V shaped like Q)");
    }

    static Tensor Own(List<Tensor> owned, Tensor t) { owned.Add(t); return t; }
    static Tensor Keep(List<Tensor> scratch, Tensor t) { scratch.Add(t); return t; }
}
