using XDit.Engine.Execution;
using XDit.Kernels;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Engine.Analysis;

/// <summary>What a <see cref="RedundancyRecorder"/> records.</summary>
public sealed record RecordingOptions
{
    /// <summary><see cref="RecordingTarget"/> names; text targets are recorded only where a layer has text tokens.</summary>
    public IReadOnlyList<string> Targets { get; init; } = RecordingTarget.Default;
    public LayerSelection Layers { get; init; } = LayerSelection.Self;
    public HalfSelection Halves { get; init; } = HalfSelection.Together;
}

/// <summary>
/// A plain single-device executor (Embed, every block, Finish, Unpatchify: its output is the forward's) that keeps a
/// host copy of each recorded tensor (<see cref="RecordingTarget"/>) and measures how it changed from the previous
/// call (<see cref="ChangeMetrics"/>). K and V are taken as the model hands them to attention (the engine's
/// <see cref="IAttention"/> hook, so after q/k norm and RoPE); A is the attention output projected by
/// <see cref="OutputProjections"/> when given, else the raw attention output. Only the analysis runs it, so the
/// host copies cost nothing in a normal run.
/// </summary>
public sealed class RedundancyRecorder : IDenoiseExecutor
{
    readonly RecordingOptions _options;
    readonly OutputProjections? _projections;
    readonly HashSet<string> _targets;
    readonly Dictionary<SeriesKey, float[]> _previous = new();
    readonly Dictionary<SeriesKey, ChangeSeries> _series = new();
    readonly List<SeriesKey> _order = new();
    readonly Dictionary<string, AttentionKind> _layerKinds = new();
    readonly List<string> _layerOrder = new();
    bool _teaInput = true;

    public RedundancyRecorder(RecordingOptions? options = null, OutputProjections? projections = null)
    {
        _options = options ?? new RecordingOptions();
        _projections = projections;
        _targets = _options.Targets.ToHashSet();
    }

    /// <summary>Every series in the order first recorded (per layer: k, v, a, ek, ev, ea; blocks as they run).</summary>
    public IReadOnlyList<ChangeSeries> Series => _order.Select(k => _series[k]).ToList();
    /// <summary>Block outputs, one series per block and half (index order).</summary>
    public IReadOnlyList<ChangeSeries> Blocks => Series.Where(s => s.Key.Target == RecordingTarget.Block).ToList();
    /// <summary>Attention layers (recorded ones) in the order the model first called them, with their kind.</summary>
    public IReadOnlyList<(string Layer, AttentionKind Kind)> AttentionLayers => _layerOrder.Select(l => (l, _layerKinds[l])).ToList();
    /// <summary>Whether A was measured after the output projection (true) or before it.</summary>
    public bool ProjectedOutputs => _projections is not null;
    public int Calls { get; private set; }

    public Tensor Predict(IOps ops, DiffusionTransformer model, DitInputs inputs, int step)
    {
        ArgumentNullException.ThrowIfNull(model);
        var attention = new RecordingAttention(this);
        using var state = model.Embed(ops, inputs);
        if (_targets.Contains(RecordingTarget.TeaInput) && _teaInput)
        {
            try
            {
                using var m = model.FirstBlockModulatedInput(ops, state);
                Observe(ops, RecordingTarget.TeaInput, "block 0", m);
            }
            catch (NotSupportedException) { _teaInput = false; } // the model does not expose it: no series
        }
        bool residuals = _targets.Contains(RecordingTarget.Residual);
        for (int i = 0; i < model.NumBlocks; i++)
        {
            var before = residuals ? ops.ToHost(state.Image) : null;
            model.RunBlock(ops, i, state, attention);
            if (_targets.Contains(RecordingTarget.Block) || residuals)
            {
                var after = ops.ToHost(state.Image);
                int rows = state.Image.Dim(0);
                if (_targets.Contains(RecordingTarget.Block)) Observe(RecordingTarget.Block, $"block {i}", after, rows);
                if (before is not null)
                {
                    if (before.Length != after.Length)
                        throw new InvalidOperationException($"block {i} changed the image tokens' size from {before.Length} to {after.Length} values; its residual is undefined");
                    for (int j = 0; j < after.Length; j++) after[j] -= before[j];
                    Observe(RecordingTarget.Residual, $"block {i}", after, rows);
                }
            }
        }
        Calls++;
        using var tokens = model.Finish(ops, state);
        return model.Unpatchify(ops, tokens, state);
    }

    bool Wanted(AttentionKind kind) => _options.Layers switch
    {
        LayerSelection.Self => kind == AttentionKind.Self,
        LayerSelection.Cross => kind == AttentionKind.Cross,
        _ => true,
    };

    void Observe(IOps ops, string target, string layer, Tensor tensor) => Observe(target, layer, ops.ToHost(tensor), tensor.Dim(0));

    void Observe(string target, string layer, float[] now, int rows)
    {
        if (_options.Halves == HalfSelection.Together || rows % 2 != 0)
        {
            Observe(new SeriesKey(target, layer, SeriesKey.AllRows), now);
            return;
        }
        // [negative rows; positive rows]: the first half of the batch is the unconditional one
        int half = now.Length / 2;
        Observe(new SeriesKey(target, layer, SeriesKey.Uncond), now.AsSpan(0, half).ToArray());
        Observe(new SeriesKey(target, layer, SeriesKey.Cond), now.AsSpan(half).ToArray());
    }

    void Observe(SeriesKey key, float[] now)
    {
        if (!_series.TryGetValue(key, out var series))
        {
            series = new ChangeSeries(key);
            _series[key] = series;
            _order.Add(key);
        }
        if (_previous.TryGetValue(key, out var before)) series.Add(now, before);
        _previous[key] = now;
    }

    /// <summary>Local attention that hands each recorded layer's K, V and output to the recorder.</summary>
    sealed class RecordingAttention(RedundancyRecorder owner) : IAttention
    {
        public AttentionResult Run(IOps ops, AttentionCall call)
        {
            var result = LocalAttention.Instance.Run(ops, call);
            if (!owner.Wanted(call.Kind)) return result;
            if (!owner._layerKinds.ContainsKey(call.Layer))
            {
                owner._layerKinds[call.Layer] = call.Kind;
                owner._layerOrder.Add(call.Layer);
            }
            var t = owner._targets;
            if (t.Contains(RecordingTarget.K)) owner.Observe(ops, RecordingTarget.K, call.Layer, call.K);
            if (t.Contains(RecordingTarget.V)) owner.Observe(ops, RecordingTarget.V, call.Layer, call.V);
            if (t.Contains(RecordingTarget.A)) ObserveOutput(ops, RecordingTarget.A, call.Layer, result.Output, text: false);
            if (call.JointK is not null)
            {
                if (t.Contains(RecordingTarget.TextK)) owner.Observe(ops, RecordingTarget.TextK, call.Layer, call.JointK);
                if (t.Contains(RecordingTarget.TextV)) owner.Observe(ops, RecordingTarget.TextV, call.Layer, call.JointV!);
                if (t.Contains(RecordingTarget.TextA) && result.JointOutput is { } jo) ObserveOutput(ops, RecordingTarget.TextA, call.Layer, jo, text: true);
            }
            return result;
        }

        void ObserveOutput(IOps ops, string target, string layer, Tensor output, bool text)
        {
            using var projected = owner._projections?.Apply(ops, layer, output, text);
            owner.Observe(ops, target, layer, projected ?? output);
        }
    }
}
