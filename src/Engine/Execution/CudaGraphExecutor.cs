using XDit.Kernels;
using XDit.Kernels.Cuda;
using XDit.Models;
using XDit.Runtime;
using XDit.Runtime.Cuda;

namespace XDit.Engine.Execution;

/// <summary>
/// One rank, the whole model, with the transformer's blocks replayed from a CUDA graph (xDiT's and diffusers'
/// CUDA-graph mode). Each step, <see cref="DiffusionTransformer.Embed"/> runs eagerly (it builds timestep tables and
/// masks on the host) and its results are copied into the graph's input tensors; everything after it (every block,
/// Finish, Unpatchify) is one graph launch instead of thousands of kernel launches. The first step runs that work
/// eagerly in the graph's memory pool, which leaves every block the capture needs cached; the second step records
/// it, and every later step replays it. A new batch or resolution captures anew. Results are those of the eager
/// forward: the same kernels in the same order. Where the work cannot be captured (a model that talks to the host
/// inside its blocks), the executor says why in <see cref="FallbackReason"/> and stays eager. On a backend other
/// than CudaOps it is the plain forward.
/// </summary>
public sealed class CudaGraphExecutor : IDenoiseExecutor, IDisposable
{
    Graphed? _graphed;

    /// <summary>Graphs recorded so far (one per batch and resolution).</summary>
    public int Captures { get; private set; }
    /// <summary>Steps computed by replaying a graph.</summary>
    public int Replays { get; private set; }
    /// <summary>Why the blocks run eagerly after all, or null while graphs work.</summary>
    public string? FallbackReason { get; private set; }

    public Tensor Predict(IOps ops, DiffusionTransformer model, DitInputs inputs, int step)
    {
        if (!model.HasTokenStages) FallbackReason ??= $"{model.GetType().Name} runs whole, without the stages a graph of the blocks records";
        if (ops is not CudaOps gpu || FallbackReason is not null) return model.Forward(ops, inputs);
        using var state = model.Embed(ops, inputs);
        var key = Graphed.KeyOf(model, state);
        if (_graphed is null || _graphed.Key != key)
        {
            _graphed?.Dispose();
            _graphed = new Graphed(gpu, model, state, key);
            return _graphed.WarmUp();
        }
        _graphed.Load(state);
        if (_graphed.Graph is null)
        {
            try
            {
                _graphed.Record();
                Captures++;
            }
            catch (Exception e) when (e is GraphCaptureException or CudaException)
            {
                return GiveUp(gpu, model, state, e.Message);
            }
        }
        Replays++;
        return _graphed.Replay();
    }

    Tensor GiveUp(CudaOps gpu, DiffusionTransformer model, DitState state, string reason)
    {
        FallbackReason = $"CUDA graph capture failed, the blocks run eagerly: {reason}";
        _graphed?.Dispose();
        _graphed = null;
        return model.ForwardFromState(gpu, state);
    }

    public void Dispose()
    {
        _graphed?.Dispose();
        _graphed = null;
    }

    /// <summary>One graph: its input tensors (fixed addresses, overwritten each step), its pool and, once recorded,
    /// the graph itself.</summary>
    sealed class Graphed : IDisposable
    {
        readonly CudaOps _gpu;
        readonly DiffusionTransformer _model;
        readonly CudaArenaPool _pool;
        readonly Tensor?[] _inputs;
        /// <summary>The token layout the graph was recorded for, over the input tensors (owns none of them).</summary>
        readonly DitState _layout;

        public Graphed(CudaOps gpu, DiffusionTransformer model, DitState state, string key)
        {
            _gpu = gpu;
            _model = model;
            Key = key;
            _pool = gpu.Arena.NewPool();
            _inputs = state.Tensors.Select(t => t is null ? null : gpu.Contiguous(t)).ToArray();
            _layout = state.WithTensors(_inputs);
        }

        public string Key { get; }
        public CapturedGraph? Graph { get; private set; }

        /// <summary>What a graph was recorded for: the model, every input's dtype and shape (or its absence), and the
        /// token layout.</summary>
        public static string KeyOf(DiffusionTransformer model, DitState s) =>
            $"{System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(model)} {s.TokenStart} {s.TotalTokens} {s.GridT}x{s.GridH}x{s.GridW} " +
            string.Join(" ", s.Tensors.Select(t => t is null ? "-" : $"{t.DType}{Shape.Format(t.ShapeSpan)}"));

        public void Load(DitState state)
        {
            var now = state.Tensors;
            for (int i = 0; i < now.Count; i++)
                if (_inputs[i] is { } dst) _gpu.Copy(dst, now[i]!);
        }

        /// <summary>The blocks on a state made of the input tensors; the state's own temporaries go with it.</summary>
        Tensor Work()
        {
            using var s = _layout.WithTensors(_inputs);
            return _model.ForwardFromState(_gpu, s);
        }

        /// <summary>The first step: eager, with every allocation in the pool; returns a copy the caller owns.</summary>
        public Tensor WarmUp()
        {
            using var y = _gpu.RunInPool(_pool, Work);
            return _gpu.Contiguous(y);
        }

        public void Record() => Graph = _gpu.Capture(_pool, Work);

        public Tensor Replay()
        {
            Graph!.Replay();
            return _gpu.Contiguous(Graph.Output);
        }

        public void Dispose()
        {
            Graph?.Dispose();
            _layout.Dispose();   // owns nothing; the inputs are disposed here
            foreach (var t in _inputs) t?.Dispose();
            _pool.Dispose();
        }
    }
}
