using XDit.Engine.Execution;
using XDit.Kernels;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Engine.Analysis;

/// <summary>
/// A plain single-device executor (Embed, every block, Finish, Unpatchify: its output is the forward's) that also
/// keeps a host copy of each block's image-token output and of each attention layer's output (the attention core's
/// image rows, before the output projection: that is what the engine's attention hook sees), and records how each
/// changed from the previous call. The whole call batch is compared, both guidance halves together, as
/// DiTCacheAnalysis does.
/// </summary>
public sealed class RedundancyRecorder : IDenoiseExecutor
{
    readonly Dictionary<string, float[]> _previous = new();
    readonly Dictionary<string, ChangeSeries> _attention = new();
    readonly List<string> _attentionOrder = new();
    ChangeSeries[] _blocks = [];

    /// <summary>Block outputs, one series per block (index order).</summary>
    public IReadOnlyList<ChangeSeries> Blocks => _blocks;
    /// <summary>Attention layers in the order the model first called them.</summary>
    public IEnumerable<ChangeSeries> AttentionLayers => _attentionOrder.Select(n => _attention[n]);
    public int Calls { get; private set; }

    public Tensor Predict(IOps ops, DiffusionTransformer model, DitInputs inputs, int step)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (_blocks.Length != model.NumBlocks)
        {
            if (Calls > 0) throw new InvalidOperationException($"the recorder saw {_blocks.Length} blocks before and {model.NumBlocks} now; use one recorder per model");
            _blocks = Enumerable.Range(0, model.NumBlocks).Select(i => new ChangeSeries($"block {i}")).ToArray();
        }
        var attention = new RecordingAttention(this);
        using var state = model.Embed(ops, inputs);
        for (int i = 0; i < model.NumBlocks; i++)
        {
            model.RunBlock(ops, i, state, attention);
            Observe(_blocks[i], ops.ToHost(state.Image));
        }
        Calls++;
        using var tokens = model.Finish(ops, state);
        return model.Unpatchify(ops, tokens, state);
    }

    void Observe(ChangeSeries series, float[] now)
    {
        if (_previous.TryGetValue(series.Name, out var before)) series.Add(now, before);
        _previous[series.Name] = now;
    }

    /// <summary>Local attention that hands each layer's image-row output to the recorder.</summary>
    sealed class RecordingAttention(RedundancyRecorder owner) : IAttention
    {
        public AttentionResult Run(IOps ops, AttentionCall call)
        {
            var result = LocalAttention.Instance.Run(ops, call);
            if (!owner._attention.TryGetValue(call.Layer, out var series))
            {
                series = new ChangeSeries(call.Layer);
                owner._attention[call.Layer] = series;
                owner._attentionOrder.Add(call.Layer);
            }
            owner.Observe(series, ops.ToHost(result.Output));
            return result;
        }
    }
}
