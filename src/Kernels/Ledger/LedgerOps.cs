using XDit.Kernels.Cuda;
using XDit.Runtime;

namespace XDit.Kernels.Ledger;

/// <summary>
/// An IOps that runs every op on another backend and records it in a <see cref="LaunchLedger"/>: the op's kind, the
/// block it ran in, the bytes of its tensor arguments (read) and results (written) as views (a broadcast operand
/// counts its own elements), its FLOPs (<see cref="LedgerMath"/>), the device launches it queued (the difference of
/// the CUDA backend's <see cref="LaunchCounter"/> across the call; 0 on a backend without one) and, with a timer,
/// its device time. The bytes are the least the op must move; the launches show what it really queued (a strided
/// operand copied first, a bias added after a GEMM without its epilogue). Allocation (Empty) is not an op.
/// The wrapped backend stays the caller's: disposing this only stops listening to its launches.
/// A new op of IOps gets its line here too (the compiler says so), with its bytes and FLOPs.
/// </summary>
public sealed class LedgerOps : IOps
{
    readonly IOps _inner;
    readonly LaunchLedger _ledger;
    readonly IOpTimer? _timer;
    readonly LaunchCounter? _counter;

    public LedgerOps(IOps inner, LaunchLedger ledger, IOpTimer? timer = null)
    {
        (_inner, _ledger, _timer) = (inner, ledger, timer);
        _counter = (inner as CudaOps)?.Launches;
        if (_counter is not null) _counter.Observer = ledger.CountLaunch;
    }

    public IOps Inner => _inner;
    public LaunchLedger Ledger => _ledger;

    // ---- recording ----

    readonly struct Mark(long launches, int timer)
    {
        public long Launches { get; } = launches;
        public int Timer { get; } = timer;
    }

    Mark Begin() => new(_counter?.Total ?? 0, _timer?.Start() ?? -1);

    void End(Mark m, string kind, long read, long written, double flops = 0, DType mathType = DType.F32)
    {
        var e = new LedgerEntry(kind, _ledger.CurrentScope, (_counter?.Total ?? 0) - m.Launches, read, written, flops, mathType);
        _timer?.Stop(m.Timer, e);
        _ledger.Add(e);
    }

    Tensor Op(string kind, long read, Func<Tensor> op, double flops = 0, DType mathType = DType.F32)
    {
        var m = Begin();
        var y = op();
        End(m, kind, read, y.ByteCount, flops, mathType);
        return y;
    }

    static long B(Tensor? t) => t?.ByteCount ?? 0;

    static string Snake(Activation a) => a switch
    {
        Activation.GeluTanh => "gelu_tanh",
        Activation.QuickGelu => "quick_gelu",
        _ => a.ToString().ToLowerInvariant(),
    };

    // ---- IOps ----

    public string Name => _inner.Name;
    public DType ActivationType => _inner.ActivationType;
    public IAllocator Allocator => _inner.Allocator;
    public IReadOnlyList<string> FallbackNotes() => _inner.FallbackNotes();

    public Tensor Empty(DType dtype, params int[] shape) => _inner.Empty(dtype, shape);
    public Tensor Zeros(DType dtype, params int[] shape) => Op("zeros", 0, () => _inner.Zeros(dtype, shape));

    public Tensor FromHost(ReadOnlySpan<float> data, params int[] shape)
    {
        var m = Begin();
        var y = _inner.FromHost(data, shape);
        End(m, "from_host", 0, y.ByteCount);
        return y;
    }

    public Tensor Upload(Tensor host) => Op("upload", 0, () => _inner.Upload(host));

    public float[] ToHost(Tensor t)
    {
        var m = Begin();
        var y = _inner.ToHost(t);
        End(m, "to_host", B(t), 0);
        return y;
    }

    public Tensor Linear(Tensor x, Tensor w, Tensor? bias = null, Activation act = Activation.None)
    {
        long k = w.Dim(1), n = w.Dim(0), rows = k == 0 ? 0 : x.NumElements / k;
        string kind = act == Activation.None ? "linear" : $"linear_{Snake(act)}";
        return Op(kind, B(x) + B(w) + B(bias), () => _inner.Linear(x, w, bias, act), LedgerMath.Gemm(rows, n, k), x.DType);
    }

    public void LinearInto(Tensor y, Tensor x, Tensor w, Tensor? bias = null)
    {
        long k = w.Dim(1), n = w.Dim(0), rows = k == 0 ? 0 : x.NumElements / k;
        var m = Begin();
        _inner.LinearInto(y, x, w, bias);
        End(m, "linear", B(x) + B(w) + B(bias), B(y), LedgerMath.Gemm(rows, n, k), x.DType);
    }

    /// <summary>One GEMM whose epilogue normalises and rotates each head: it reads x, w, the bias, the norm weight
    /// and the tables, and writes y once.</summary>
    public void LinearRmsNormRopeInto(Tensor y, Tensor x, Tensor w, Tensor? bias, Tensor? weight, Tensor? cos, Tensor? sin, float eps, bool interleaved)
    {
        long k = w.Dim(1), n = w.Dim(0), rows = k == 0 ? 0 : x.NumElements / k;
        var m = Begin();
        _inner.LinearRmsNormRopeInto(y, x, w, bias, weight, cos, sin, eps, interleaved);
        End(m, cos is null ? "linear_rms_norm" : "linear_rms_norm_rope", B(x) + B(w) + B(bias) + B(weight) + B(cos) + B(sin), B(y), LedgerMath.Gemm(rows, n, k), x.DType);
    }

    /// <summary>As <see cref="LinearRmsNormRopeInto"/>, with the LayerNorm's bias read too.</summary>
    public void LinearLayerNormRopeInto(Tensor y, Tensor x, Tensor w, Tensor? bias, Tensor? weight, Tensor? normBias, Tensor? cos, Tensor? sin, float eps, bool interleaved)
    {
        long k = w.Dim(1), n = w.Dim(0), rows = k == 0 ? 0 : x.NumElements / k;
        var m = Begin();
        _inner.LinearLayerNormRopeInto(y, x, w, bias, weight, normBias, cos, sin, eps, interleaved);
        End(m, cos is null ? "linear_layer_norm" : "linear_layer_norm_rope", B(x) + B(w) + B(bias) + B(weight) + B(normBias) + B(cos) + B(sin), B(y), LedgerMath.Gemm(rows, n, k), x.DType);
    }

    /// <summary>One GEMM that reads y, w, the bias, the gate (if any) and x (beta = 1) and writes x, or output.</summary>
    public void LinearGatedResidualInto(Tensor x, Tensor y, Tensor w, Tensor? bias, Tensor? gate, Tensor? output = null)
    {
        long k = w.Dim(1), n = w.Dim(0), rows = k == 0 ? 0 : y.NumElements / k;
        var m = Begin();
        _inner.LinearGatedResidualInto(x, y, w, bias, gate, output);
        End(m, "linear_gated_residual", B(x) + B(y) + B(w) + B(bias) + B(gate), B(x), LedgerMath.Gemm(rows, n, k), x.DType);
    }

    /// <summary>One pass that reads every gate and bias and writes alpha (F32) and gate·bias per gate.</summary>
    public IDisposable PrepareGatedEpilogues((Tensor Gate, Tensor? Bias)[] epilogues)
    {
        var m = Begin();
        var scope = _inner.PrepareGatedEpilogues(epilogues);
        long read = epilogues.Sum(e => B(e.Gate) + B(e.Bias));
        long written = epilogues.Sum(e => e.Gate.NumElements * (sizeof(float) + (e.Bias is null ? 0 : e.Gate.DType.SizeOf())));
        End(m, "gate_alpha_bias", read, written);
        return scope;
    }

    public Tensor MatMul(Tensor a, Tensor b, bool transposeB = false, float alpha = 1f)
    {
        long m = a.Dim(-2), k = a.Dim(-1), n = transposeB ? b.Dim(-2) : b.Dim(-1);
        long batch = m * k == 0 ? 0 : a.NumElements / (m * k);
        return Op("matmul", B(a) + B(b), () => _inner.MatMul(a, b, transposeB, alpha), LedgerMath.Gemm(m, n, k, batch), a.DType);
    }

    public Tensor LayerNorm(Tensor x, Tensor? weight, Tensor? bias, float eps) =>
        Op("layer_norm", B(x) + B(weight) + B(bias), () => _inner.LayerNorm(x, weight, bias, eps));

    public Tensor RmsNorm(Tensor x, Tensor? weight, float eps) => Op("rms_norm", B(x) + B(weight), () => _inner.RmsNorm(x, weight, eps));

    public Tensor GroupNorm(Tensor x, int groups, Tensor? weight, Tensor? bias, float eps, Activation act = Activation.None) =>
        Op(act == Activation.None ? "group_norm" : $"group_norm_{Snake(act)}", B(x) + B(weight) + B(bias),
            () => _inner.GroupNorm(x, groups, weight, bias, eps, act));

    public Tensor ChannelRmsNorm(Tensor x, Tensor? weight, float eps, Activation act = Activation.None) =>
        Op(act == Activation.None ? "channel_rms_norm" : $"channel_rms_norm_{Snake(act)}", B(x) + B(weight),
            () => _inner.ChannelRmsNorm(x, weight, eps, act));

    public Tensor Softmax(Tensor x) => Op("softmax", B(x), () => _inner.Softmax(x));

    public Tensor Activate(Tensor x, Activation act) => Op($"activate_{Snake(act)}", B(x), () => _inner.Activate(x, act));
    public Tensor Add(Tensor a, Tensor b) => Op("add", B(a) + B(b), () => _inner.Add(a, b));
    public Tensor Mul(Tensor a, Tensor b) => Op("mul", B(a) + B(b), () => _inner.Mul(a, b));
    /// <summary>Reads the projection [..., 2F] once, writes the product [..., F].</summary>
    public Tensor Geglu(Tensor x) => Op("geglu", B(x), () => _inner.Geglu(x));
    public Tensor Swiglu(Tensor x) => Op("swiglu", B(x), () => _inner.Swiglu(x));
    public Tensor Scale(Tensor x, float scale, float shift = 0f) => Op("scale", B(x), () => _inner.Scale(x, scale, shift));
    public Tensor Modulate(Tensor x, Tensor shift, Tensor scale) => Op("modulate", B(x) + B(shift) + B(scale), () => _inner.Modulate(x, shift, scale));
    public Tensor GatedResidual(Tensor x, Tensor gate, Tensor y, Tensor? y2 = null) =>
        Op("gated_residual", B(x) + B(gate) + B(y) + B(y2), () => _inner.GatedResidual(x, gate, y, y2));

    public Tensor RmsNormGatedResidual(Tensor x, Tensor? gate, Tensor y, Tensor? weight, float eps) =>
        Op("rms_norm_gated_residual", B(x) + B(gate) + B(y) + B(weight), () => _inner.RmsNormGatedResidual(x, gate, y, weight, eps));

    public Tensor LayerNormModulate(Tensor x, Tensor shift, Tensor scale, float eps, Tensor? x2 = null) =>
        Op("layer_norm_modulate", B(x) + B(x2) + B(shift) + B(scale), () => _inner.LayerNormModulate(x, shift, scale, eps, x2));

    public Tensor RmsNormModulate(Tensor x, Tensor? weight, Tensor? shift, Tensor scale, float eps) =>
        Op("rms_norm_modulate", B(x) + B(weight) + B(shift) + B(scale), () => _inner.RmsNormModulate(x, weight, shift, scale, eps));

    public (Tensor Residual, Tensor Normed) ResidualLayerNormModulate(Tensor x, Tensor? gate, Tensor y, Tensor shift, Tensor scale, float eps)
    {
        var m = Begin();
        var r = _inner.ResidualLayerNormModulate(x, gate, y, shift, scale, eps);
        End(m, "residual_layer_norm_modulate", B(x) + B(gate) + B(y) + B(shift) + B(scale), B(r.Residual) + B(r.Normed));
        return r;
    }

    public Tensor Attention(Tensor q, Tensor k, Tensor v, AttentionOptions? options = null, Tensor? lse = null)
    {
        var m = Begin();
        var o = _inner.Attention(q, k, v, options, lse);
        double flops = LedgerMath.Attention(q.Dim(0), q.Dim(2), q.Dim(1), k.Dim(1), q.Dim(3), options?.Causal ?? false, options?.Window);
        // on CUDA the row names what ran it (cuDNN's fused attention or our kernel), so the two time apart
        string kind = _inner is CudaOps cuda ? $"attention ({cuda.LastAttentionBackend})" : "attention";
        End(m, kind, B(q) + B(k) + B(v) + B(options?.KeyBias) + B(options?.Bias), o.ByteCount + B(lse), flops, q.DType);
        return o;
    }

    public void MergeAttention(Tensor o1, Tensor lse1, Tensor o2, Tensor lse2)
    {
        var m = Begin();
        _inner.MergeAttention(o1, lse1, o2, lse2);
        End(m, "merge_attention", B(o1) + B(lse1) + B(o2) + B(lse2), B(o1) + B(lse1));
    }

    public Tensor LinearAttentionSums(Tensor k, Tensor v)
    {
        var m = Begin();
        var s = _inner.LinearAttentionSums(k, v);
        double flops = LedgerMath.LinearAttention(k.Dim(0), k.Dim(2), k.Dim(1), k.Dim(3));
        End(m, "linear_attention_sums", B(k) + B(v), s.ByteCount, flops, DType.F32);
        return s;
    }

    public Tensor LinearAttentionApply(Tensor q, Tensor sums, float eps)
    {
        var m = Begin();
        var o = _inner.LinearAttentionApply(q, sums, eps);
        double flops = LedgerMath.LinearAttention(q.Dim(0), q.Dim(2), q.Dim(1), q.Dim(3));
        End(m, "linear_attention_apply", B(q) + B(sums), o.ByteCount, flops, DType.F32);
        return o;
    }

    public Tensor Rope(Tensor x, Tensor cos, Tensor sin, bool interleaved) => Op("rope", B(x) + B(cos) + B(sin), () => _inner.Rope(x, cos, sin, interleaved));

    public void RmsNormRope(Tensor y, Tensor x, Tensor? weight, Tensor? cos, Tensor? sin, float eps, bool interleaved)
    {
        var m = Begin();
        _inner.RmsNormRope(y, x, weight, cos, sin, eps, interleaved);
        End(m, cos is null ? "rms_norm" : "rms_norm_rope", B(x) + B(weight) + B(cos) + B(sin), B(y));
    }

    public void RmsNormAcrossHeadsRope(Tensor y, Tensor x, Tensor? weight, Tensor? cos, Tensor? sin, float eps, bool interleaved)
    {
        var m = Begin();
        _inner.RmsNormAcrossHeadsRope(y, x, weight, cos, sin, eps, interleaved);
        End(m, cos is null ? "rms_norm_across_heads" : "rms_norm_across_heads_rope", B(x) + B(weight) + B(cos) + B(sin), B(y));
    }

    public void LayerNormRope(Tensor y, Tensor x, Tensor? weight, Tensor? bias, Tensor? cos, Tensor? sin, float eps, bool interleaved)
    {
        var m = Begin();
        _inner.LayerNormRope(y, x, weight, bias, cos, sin, eps, interleaved);
        End(m, cos is null ? "layer_norm" : "layer_norm_rope", B(x) + B(weight) + B(bias) + B(cos) + B(sin), B(y));
    }

    /// <summary>The residual is read where the bias is added: a convolution's own bytes.</summary>
    public Tensor Conv2d(Tensor x, Tensor w, Tensor? bias, int stride = 1, int padding = 0, Tensor? residual = null)
    {
        var m = Begin();
        var y = _inner.Conv2d(x, w, bias, stride, padding, residual);
        double flops = LedgerMath.Conv2d(y.Dim(0), y.Dim(1), y.Dim(2), y.Dim(3), w.Dim(1), w.Dim(2), w.Dim(3));
        End(m, "conv2d", B(x) + B(w) + B(bias) + B(residual), y.ByteCount, flops, x.DType);
        return y;
    }

    public Tensor GroupedConv2d(Tensor x, Tensor w, Tensor? bias, int groups, int padding)
    {
        var m = Begin();
        var y = _inner.GroupedConv2d(x, w, bias, groups, padding);
        // w.Dim(1) is C/groups: each output reads only its group's channels
        double flops = LedgerMath.Conv2d(y.Dim(0), y.Dim(1), y.Dim(2), y.Dim(3), w.Dim(1), w.Dim(2), w.Dim(3));
        End(m, "grouped_conv2d", B(x) + B(w) + B(bias), y.ByteCount, flops, x.DType);
        return y;
    }

    public Tensor Upsample2x(Tensor x) => Op("upsample2x", B(x), () => _inner.Upsample2x(x));
    public Tensor UpsampleNearest(Tensor x, int height, int width) => Op("upsample_nearest", B(x), () => _inner.UpsampleNearest(x, height, width));

    public Tensor Contiguous(Tensor x) => Op("contiguous", B(x), () => _inner.Contiguous(x));

    public void Copy(Tensor dst, Tensor src)
    {
        var m = Begin();
        _inner.Copy(dst, src);
        End(m, "copy", B(src), B(dst));
    }

    public Tensor Concat(int axis, params Tensor[] xs) => Op("concat", xs.Sum(B), () => _inner.Concat(axis, xs));

    public Tensor Patchify(Tensor x, int p, bool channelsFirst = true) => Op("patchify", B(x), () => _inner.Patchify(x, p, channelsFirst));

    public Tensor Unpatchify(Tensor x, int p, int channels, int gridH, int gridW, bool channelsFirst = false) =>
        Op("unpatchify", B(x), () => _inner.Unpatchify(x, p, channels, gridH, gridW, channelsFirst));

    public Tensor TimestepEmbedding(ReadOnlySpan<float> t, int dim, bool flipSinToCos = true, float downscaleFreqShift = 0f, float scale = 1f, float maxPeriod = 10000f)
    {
        var m = Begin();
        var y = _inner.TimestepEmbedding(t, dim, flipSinToCos, downscaleFreqShift, scale, maxPeriod);
        End(m, "timestep_embedding", 0, y.ByteCount);
        return y;
    }

    public Tensor Embedding(Tensor table, ReadOnlySpan<long> ids)
    {
        var m = Begin();
        var y = _inner.Embedding(table, ids);
        End(m, "embedding", y.ByteCount, y.ByteCount);
        return y;
    }

    public Tensor Cast(Tensor x, DType dtype) => Op("cast", B(x), () => _inner.Cast(x, dtype));

    /// <summary>Stops listening to the wrapped backend's launches; the backend itself stays open.</summary>
    public void Dispose()
    {
        if (_counter is not null && _counter.Observer == (Action<string>)_ledger.CountLaunch) _counter.Observer = null;
    }
}
