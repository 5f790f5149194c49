using XDit.Kernels;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Engine.FastAttn;

/// <summary>
/// DiTFastAttn's attention (methods.md §7, xDiT's xFuserFastAttention): runs each self-attention module as its plan
/// says at the current <see cref="Step"/> and keeps, per layer, what later steps reuse: the module output (for a
/// following OUTPUT_SHARE step) and the window residual R = O_full − O_window (for following window steps). Every
/// other attention (cross-attention) runs as plain local attention.
/// <para>
/// Under classifier-free guidance the batch is [unconditional; conditional], as the pipelines build it; a CFG-share
/// step computes the conditional half (xDiT's cond_first = false for PixArt) and copies it. A window step with CFG
/// share adds the conditional half of the cached residual (xDiT adds the first half, the unconditional one's, which
/// differs from it only where the residual was computed without CFG share).
/// </para>
/// </summary>
public sealed class FastAttention : IModuleAttention, IDisposable
{
    sealed class LayerCache
    {
        public Tensor? Output;
        public Tensor? Residual;
    }

    readonly Dictionary<int, LayerCache> _layers = new();

    /// <param name="plan">The plan to follow; calibration changes its cells as it goes.</param>
    /// <param name="window">Band half-width w of the window attention: token i sees tokens j with |i − j| ≤ w.</param>
    /// <param name="cfg">Whether the batch is [unconditional; conditional] rows.</param>
    public FastAttention(FastAttnPlan plan, int window, bool cfg)
    {
        if (window < 0) throw new ArgumentOutOfRangeException(nameof(window), $"the DiTFastAttn window must be ≥ 0, got {window}");
        Plan = plan;
        Window = window;
        Cfg = cfg;
    }

    public FastAttnPlan Plan { get; }
    public int Window { get; }
    public bool Cfg { get; }
    /// <summary>The denoising step the next forward belongs to.</summary>
    public int Step { get; set; }
    /// <summary>Calibration's trial forwards: read the caches, write nothing to them.</summary>
    public bool Trial { get; set; }
    /// <summary>Calibration: every full attention leaves its residual and every computed module its output, since
    /// the plan of later steps is not known yet.</summary>
    public bool KeepEverything { get; set; }
    /// <summary>What the self-attention layers cost, against running every one in full.</summary>
    public FastAttnStats Stats { get; } = new();

    public AttentionResult Run(IOps ops, AttentionCall call) => LocalAttention.Instance.Run(ops, call);

    public Tensor RunSelfAttention(IOps ops, SelfAttentionModuleCall call)
    {
        var method = Plan[call.Block, Step];
        var cache = Layer(call.Block);
        int B = call.Input.Dim(0), N = call.Input.Dim(1);
        if (method == FastAttnMethod.OutputShare)
        {
            var shared = cache.Output ?? throw new InvalidOperationException($"DiTFastAttn at {call.Layer} step {Step}: OUTPUT_SHARE, but no earlier step left its output (the first step must be a full attention)");
            if (!Shape.Equal(shared.ShapeSpan, [B, N, shared.Dim(2)]))
                throw new InvalidOperationException($"DiTFastAttn at {call.Layer} step {Step}: the shared output {Shape.Format(shared.ShapeSpan)} does not fit the batch [{B}, {N}, ...]");
            if (!Trial) Stats.Record(method, 0, 0);
            return ops.Contiguous(shared);
        }

        bool share = method.Has(FastAttnMethod.CfgShare);
        if (share && (!Cfg || B % 2 != 0))
            throw new InvalidOperationException($"DiTFastAttn at {call.Layer} step {Step}: {method.Name()} needs the [unconditional; conditional] batch of classifier-free guidance");
        int rows = share ? B / 2 : B;
        var input = share ? call.Input.Slice(0, rows, rows) : call.Input;
        var (q, k, v) = call.Project(ops, input);
        Tensor o;
        double windowShare = WindowShare(N, Window);
        try
        {
            if (method.Has(FastAttnMethod.FullAttn))
            {
                o = ops.Attention(q, k, v);
                bool residual = !Trial && (KeepEverything || Plan.NeedsResidual(call.Block, Step));
                if (residual) StoreResidual(ops, cache, o, q, k, v, share);
                if (!Trial) Stats.Record(method, rows / (double)B, residual ? windowShare : 0);
            }
            else
            {
                var r = cache.Residual ?? throw new InvalidOperationException($"DiTFastAttn at {call.Layer} step {Step}: {method.Name()}, but no earlier full attention left its residual");
                if (r.Dim(0) != B || r.Dim(1) != N)
                    throw new InvalidOperationException($"DiTFastAttn at {call.Layer} step {Step}: the cached residual {Shape.Format(r.ShapeSpan)} does not fit the batch [{B}, {N}, ...]");
                using var ow = ops.Attention(q, k, v, new AttentionOptions { Window = Window });
                o = ops.Add(ow, share ? r.Slice(0, rows, rows) : r);
                if (!Trial) Stats.Record(method, rows / (double)B, windowShare);
            }
        }
        finally { q.Dispose(); k.Dispose(); v.Dispose(); }

        Tensor y;
        using (o) y = call.OutProject(ops, o);
        if (share)
        {
            using var half = y;
            y = ops.Concat(0, half, half);
        }
        if (!Trial && (KeepEverything || Plan.NeedsOutput(call.Block, Step))) Replace(ref cache.Output, ops.Contiguous(y));
        return y;
    }

    /// <summary>R = O_full − O_window, copied onto both halves under CFG share.</summary>
    void StoreResidual(IOps ops, LayerCache cache, Tensor full, Tensor q, Tensor k, Tensor v, bool share)
    {
        using var window = ops.Attention(q, k, v, new AttentionOptions { Window = Window });
        using var negated = ops.Scale(window, -1f);
        var r = ops.Add(full, negated);
        if (share)
        {
            using var half = r;
            r = ops.Concat(0, half, half);
        }
        Replace(ref cache.Residual, r);
    }

    /// <summary>Fraction of the (query, key) pairs of an N-token self-attention that a band of half-width w keeps.</summary>
    public static double WindowShare(int n, int w)
    {
        if (n == 0) return 0;
        long pairs = 0;
        for (int i = 0; i < n; i++) pairs += Math.Min(n - 1, (long)i + w) - Math.Max(0, (long)i - w) + 1;
        return pairs / ((double)n * n);
    }

    LayerCache Layer(int block)
    {
        if (!_layers.TryGetValue(block, out var c)) _layers[block] = c = new LayerCache();
        return c;
    }

    static void Replace(ref Tensor? slot, Tensor value)
    {
        slot?.Dispose();
        slot = value;
    }

    /// <summary>Bytes the caches hold now.</summary>
    public long CachedBytes => _layers.Values.Sum(c => (c.Output?.ByteCount ?? 0) + (c.Residual?.ByteCount ?? 0));

    /// <summary>Forgets every cached output and residual and the statistics (a new generation).</summary>
    public void Reset()
    {
        FreeCaches();
        Stats.Clear();
    }

    /// <summary>Frees the caches; the statistics stay readable.</summary>
    public void Dispose() => FreeCaches();

    void FreeCaches()
    {
        foreach (var c in _layers.Values)
        {
            c.Output?.Dispose();
            c.Residual?.Dispose();
        }
        _layers.Clear();
    }
}
