using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models;

/// <summary>
/// Loads a model's weights by their diffusers/transformers names from a checkpoint onto a backend, checking each
/// shape against what the config implies. Keeps every uploaded tensor and disposes them with the model.
/// </summary>
public sealed class ModelWeights : IDisposable
{
    readonly List<Tensor> _loaded = new();
    readonly HashSet<string> _asked = new(StringComparer.Ordinal);

    /// <param name="operandType">the dtype GEMM and convolution operands are stored in (<see cref="GetOperand"/>);
    /// null: the backend's <see cref="IOps.ActivationType"/>. A model that must compute in another dtype than the
    /// activations (SDXL's force_upcast VAE, float32 in an f16 pipeline) passes it, and the ops, which compute in
    /// their inputs' dtype, follow once its input is cast.</param>
    public ModelWeights(ITensorSource source, IOps ops, DType? operandType = null)
    {
        Source = source;
        Ops = ops;
        OperandType = operandType ?? ops.ActivationType;
    }

    /// <summary>
    /// Whether loads scan every float weight for NaN and infinity and refuse the first bad tensor by name
    /// (`XDIT_CHECK_WEIGHTS=1`, `xdit serve --check-weights`). Off by default: it reads every weight once more on the
    /// host (one integer test per value, memory-bound), while a bad weight is caught anyway by the pipelines' check of
    /// the final latents, only without the tensor's name.
    /// </summary>
    public static bool CheckFinite { get; set; } = Environment.GetEnvironmentVariable("XDIT_CHECK_WEIGHTS") == "1";

    public ITensorSource Source { get; }
    public IOps Ops { get; }
    /// <summary>The dtype <see cref="GetOperand"/> stores weights in.</summary>
    public DType OperandType { get; }

    public bool Has(string name)
    {
        _asked.Add(name);
        return Source.Contains(name);
    }

    /// <summary>The tensor named <paramref name="name"/> as float32 values on the host, after checking its shape: for
    /// the few weights a model keeps on the host (T5's relative position bias table, from which the bias is built)
    /// or transforms before uploading (Gemma 2's 1 + weight).</summary>
    public float[] HostF32(string name, params int[] expectedShape)
    {
        _asked.Add(name);
        Source.Info(name, expectedShape);   // throws naming the file, tensor, expected and found shape
        using var t = Source.ReadF32(name);
        return t.ToFloatArray();
    }

    /// <summary>The 0-d tensor <paramref name="name"/> (a scalar parameter, such as LTX-Video's
    /// timestep_scale_multiplier) as a float on the host, checked to be 0-d. <see cref="Get"/> and
    /// <see cref="HostF32"/> read an empty shape as "no check", which a source that makes its tensors up cannot
    /// answer; this asks for the shape [] itself.</summary>
    public float HostScalar(string name)
    {
        _asked.Add(name);
        using var t = Source.Read(name, []);
        return DTypeConvert.ToF32(t).ToFloatArray()[0];
    }

    /// <summary>The tensor named <paramref name="name"/>, on the backend, after checking its shape
    /// (pass no shape to skip the check).</summary>
    public Tensor Get(string name, params int[] expectedShape) => Load(name, expectedShape, castTo: null);

    /// <summary>
    /// A weight or bias of a GEMM or convolution, in <see cref="OperandType"/> (the backend's
    /// <see cref="IOps.ActivationType"/> unless the model asked for another). Those ops cast
    /// an operand of another float dtype to the activations' on every call (CudaOps running bf16 over an f16 or f32
    /// checkpoint); casting once here gives the same numbers without the per-step cost, as diffusers' torch_dtype
    /// does at load. Norm weights and embedding tables keep the checkpoint's dtype (<see cref="Get"/>): their kernels
    /// read them in float32.
    /// </summary>
    public Tensor GetOperand(string name, params int[] expectedShape) => Load(name, expectedShape, castTo: OperandType);

    Tensor Load(string name, int[] expectedShape, DType? castTo)
    {
        _asked.Add(name);
        // the source checks the shape (or, making its tensors up, answers in it)
        bool shaped = expectedShape.Length > 0;
        var info = shaped ? Source.Info(name, expectedShape) : Source.Info(name);
        using var host = shaped ? Source.Read(name, expectedShape) : Source.Read(name);
        if (CheckFinite && FirstNonFinite(host) is var bad and >= 0)
            throw new FormatException($"{info.File}: tensor '{name}' ({host.DType}, {Shape.Format(info.Shape)}) holds NaN or infinity at index {bad}");
        Tensor t;
        try
        {
            t = Ops.Upload(host);
            if (castTo is { } dt && t.DType != dt && t.DType.IsFloat() && dt.IsFloat())
            {
                using var uploaded = t;
                t = Ops.Cast(uploaded, dt);
            }
        }
        catch (DeviceOutOfMemoryException e)
        {
            var before = Bytes > 0 ? $", after {ByteSize.Format(Bytes)} of this checkpoint's weights" : "";
            throw e.While($"{info.File}: tensor '{name}' ({host.DType}, {Shape.Format(info.Shape)}){before}");
        }
        _loaded.Add(t);
        return t;
    }

    /// <summary>
    /// Stacks Linear layers of one input width into one layer [Σ out, in] (and their biases, all or none), so that
    /// projections of the same input run as one GEMM (Q, K and V; the adaptive norms of two streams). The stacked
    /// weight replaces the layers' own (they are freed, so no weight is held twice); each layer comes back as a
    /// view of its rows, still usable on its own.
    /// </summary>
    public (Linear Stacked, Linear[] Parts) Stack(params Linear[] layers)
    {
        if (layers.Length == 0) throw new ArgumentException("Stack: no layers");
        int k = layers[0].InFeatures;
        bool bias = layers[0].Bias is not null;
        foreach (var l in layers)
            if (l.InFeatures != k || (l.Bias is not null) != bias)
                throw new ArgumentException($"Stack: layers of input width {l.InFeatures} (bias: {l.Bias is not null}) and {k} (bias: {bias}) do not stack");
        var w = StackRows(layers.Select(l => l.Weight).ToArray());
        var b = bias ? StackRows(layers.Select(l => l.Bias!).ToArray()) : null;
        var parts = new Linear[layers.Length];
        int at = 0;
        for (int i = 0; i < layers.Length; i++)
        {
            int n = layers[i].OutFeatures;
            parts[i] = new Linear(w.Slice(0, at, n), b?.Slice(0, at, n));
            at += n;
        }
        return (new Linear(w, b), parts);
    }

    /// <summary>
    /// Vectors of one length [d] as the rows of one tensor [G, d], replacing them (freed): per-head norm weights that
    /// one fused op takes together (q's and k's of a stream, <see cref="IOps.LinearRmsNormRopeInto"/>).
    /// </summary>
    public Tensor StackVectors(params Tensor[] vectors)
    {
        if (vectors.Length == 0 || vectors.Any(v => v.Rank != 1 || v.Dim(0) != vectors[0].Dim(0)))
            throw new ArgumentException($"StackVectors: {string.Join(", ", vectors.Select(v => v.ToString()))} are not vectors of one length");
        return StackRows(vectors).Reshape(vectors.Length, vectors[0].Dim(0));
    }

    /// <summary>
    /// A Linear layer whose output rows [2F, in] (and bias) come back with their halves swapped, replacing the layer's
    /// own (freed): a checkpoint that keeps a SwiGLU projection value-first becomes the gate-first operand
    /// <see cref="IOps.Swiglu"/> reads, once at load rather than a copy per forward.
    /// </summary>
    public Linear SwapRowHalves(Linear layer)
    {
        int n = layer.OutFeatures;
        if (n % 2 != 0) throw new ArgumentException($"SwapRowHalves: {layer.Weight} has {n} rows, not an even count");
        return new Linear(Swapped(layer.Weight), layer.Bias is null ? null : Swapped(layer.Bias));

        Tensor Swapped(Tensor t)
        {
            if (!_loaded.Contains(t)) throw new ArgumentException($"SwapRowHalves: {t} was not loaded by these weights");
            int h = n / 2;
            var s = Ops.Concat(0, [t.Slice(0, h, h), t.Slice(0, 0, h)]);
            _loaded.Remove(t);
            t.Dispose();
            _loaded.Add(s);
            return s;
        }
    }

    /// <summary>
    /// Cuts a Linear layer over a concatenated input [out, Σ in] into one layer per part of the input [out, in_i]
    /// (the bias goes with the first), so the product over the concatenation is the sum of the parts' products and
    /// the concatenation is never built (Flux's single-block proj_out over [attention, MLP]). The parts are dense
    /// copies that replace the layer's weight (freed).
    /// </summary>
    public Linear[] SplitColumns(Linear layer, params int[] widths)
    {
        if (widths.Sum() != layer.InFeatures)
            throw new ArgumentException($"SplitColumns: widths {string.Join(" + ", widths)} do not make the layer's input width {layer.InFeatures}");
        if (!_loaded.Contains(layer.Weight)) throw new ArgumentException($"SplitColumns: {layer.Weight} was not loaded by these weights");
        var parts = new Linear[widths.Length];
        int at = 0;
        for (int i = 0; i < widths.Length; i++)
        {
            var w = Ops.Contiguous(layer.Weight.Slice(1, at, widths[i]));
            _loaded.Add(w);
            parts[i] = new Linear(w, i == 0 ? layer.Bias : null);
            at += widths[i];
        }
        _loaded.Remove(layer.Weight);
        layer.Weight.Dispose();
        return parts;
    }

    /// <summary>The tensors concatenated along axis 0, owned here in their place (they are disposed).</summary>
    Tensor StackRows(Tensor[] parts)
    {
        foreach (var p in parts)
            if (!_loaded.Contains(p)) throw new ArgumentException($"Stack: {p} was not loaded by these weights");
        var t = Ops.Concat(0, parts);
        foreach (var p in parts)
        {
            _loaded.Remove(p);
            p.Dispose();
        }
        _loaded.Add(t);
        return t;
    }

    /// <summary>
    /// Returns <paramref name="model"/> once every numbered block of the checkpoint was read: a tensor under
    /// <c>prefix.N.</c> where the model read <c>prefix.0.</c>… but never block N means a checkpoint with more layers
    /// (or resnets, or heads' blocks) than its config.json gives, which would otherwise load silently and compute
    /// something else; so does a tensor left unread inside a block the model runs. Other unread tensors are
    /// reported to <see cref="CheckpointNotes"/> (diffusers warns of them too), except under
    /// <paramref name="partsNotLoaded"/>: prefixes the model leaves out by design (a decode-only VAE's encoder).
    /// </summary>
    public T Checked<T>(T model, params string[] partsNotLoaded)
    {
        var read = new Dictionary<string, HashSet<int>>(StringComparer.Ordinal);
        foreach (var name in _asked)
            foreach (var (prefix, index) in Numbered(name))
                (read.TryGetValue(prefix, out var set) ? set : read[prefix] = new()).Add(index);
        var extra = Source.Names.Where(n => !_asked.Contains(n))
            .SelectMany(n => Numbered(n).Where(p => read.TryGetValue(p.Prefix, out var set) && !set.Contains(p.Index)).Take(1))
            .ToList();
        if (extra.Count > 0)
        {
            var (prefix, _) = extra[0];
            var indices = extra.Where(e => e.Prefix == prefix).Select(e => e.Index).Distinct().Order().ToList();
            throw new FormatException($"{Source.Path}: holds {prefix}.{string.Join(", ", indices.Take(4))}{(indices.Count > 4 ? ", ..." : "")} " +
                $"but the config gives {read[prefix].Count} of them ({prefix}.0 to {read[prefix].Max()}): the checkpoint and its config.json disagree (num_layers?)");
        }
        // inside a block the model ran, every tensor takes part in diffusers' forward: one left unread means the
        // block computed something else than the checkpoint was trained for (qk-norm weights where the config has no
        // qk_norm, a second attention where dual_attention_layers omits the block)
        var unreadInBlock = Source.Names.Where(n => !_asked.Contains(n))
            .Where(n => Numbered(n).Any(p => read.TryGetValue(p.Prefix, out var set) && set.Contains(p.Index)))
            .Order(StringComparer.Ordinal).ToList();
        if (unreadInBlock.Count > 0)
            throw new FormatException($"{Source.Path}: tensor '{unreadInBlock[0]}'{(unreadInBlock.Count > 1 ? $" (and {unreadInBlock.Count - 1} more in read blocks)" : "")} " +
                "belongs to a block the model runs but its config.json gives the block no such weight: the checkpoint and its config disagree " +
                "(qk_norm, dual_attention_layers, or another model's checkpoint?)");
        var unread = Unread(partsNotLoaded);
        if (unread.Count > 0)
            CheckpointNotes.Report($"{Source.Path}: {unread.Count} tensor{(unread.Count > 1 ? "s" : "")} the model does not use " +
                $"({string.Join(", ", unread.Take(3))}{(unread.Count > 3 ? ", ..." : "")}): a checkpoint of another variant, or a config.json that leaves a part out?");
        return model;
    }

    /// <summary>The checkpoint's tensors the model has not asked for, outside the <paramref name="partsNotLoaded"/>
    /// prefixes, in name order.</summary>
    public IReadOnlyList<string> Unread(params string[] partsNotLoaded)
        => Source.Names.Where(n => !_asked.Contains(n) && !partsNotLoaded.Any(p => n == p || n.StartsWith(p + ".", StringComparison.Ordinal)))
            .Order(StringComparer.Ordinal).ToList();

    /// <summary>The first NaN or infinity of a contiguous host float tensor (exponent bits all ones), or -1.</summary>
    static long FirstNonFinite(Tensor host)
    {
        if (host.Storage is not HostStorage || !host.IsContiguous) return -1; // a shape-only tensor has no values
        switch (host.DType)
        {
            case DType.F32:
                var f = host.Span<uint>();
                for (int i = 0; i < f.Length; i++) if ((f[i] & 0x7F800000u) == 0x7F800000u) return i;
                return -1;
            case DType.F16:
                var h = host.Span<ushort>();
                for (int i = 0; i < h.Length; i++) if ((h[i] & 0x7C00) == 0x7C00) return i;
                return -1;
            case DType.BF16:
                var b = host.Span<ushort>();
                for (int i = 0; i < b.Length; i++) if ((b[i] & 0x7F80) == 0x7F80) return i;
                return -1;
            default: return -1;
        }
    }

    /// <summary>Every (prefix, index) of a dotted name's numeric parts: a.3.b.1.c → (a, 3), (a.3.b, 1).</summary>
    static IEnumerable<(string Prefix, int Index)> Numbered(string name)
    {
        var parts = name.Split('.');
        for (int i = 1; i < parts.Length - 1; i++)
            if (int.TryParse(parts[i], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int index))
                yield return (string.Join('.', parts, 0, i), index);
    }

    /// <summary>All weights, unscoped: models load through <see cref="WeightScope.Pp(string)"/> from here.</summary>
    public WeightScope Root => new(this);

    /// <summary>Bytes of all weights uploaded so far.</summary>
    public long Bytes => _loaded.Sum(t => t.ByteCount);

    public void Dispose()
    {
        foreach (var t in _loaded) t.Dispose();
        _loaded.Clear();
    }
}

/// <summary>A Linear layer's weight [out, in] and optional bias [out].</summary>
public readonly record struct Linear(Tensor Weight, Tensor? Bias)
{
    public int InFeatures => Weight.Dim(1);
    public int OutFeatures => Weight.Dim(0);
    public Tensor Apply(IOps ops, Tensor x, Activation act = Activation.None) => ops.Linear(x, Weight, Bias, act);
    /// <summary>residual ← residual + gate·Apply(x), the projection never written out (a GEMM epilogue).</summary>
    public void ApplyGatedResidualInto(IOps ops, Tensor residual, Tensor x, Tensor gate) => ops.LinearGatedResidualInto(residual, x, Weight, Bias, gate);
}
