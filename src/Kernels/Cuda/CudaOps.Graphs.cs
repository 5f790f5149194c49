using XDit.Runtime;
using XDit.Runtime.Cuda;

namespace XDit.Kernels.Cuda;

// CUDA graphs: a stretch of work recorded once from the stream and then replayed with one launch, which saves the
// host's per-kernel launch cost (thousands of launches per DiT forward). A graph keeps the addresses it was
// recorded with, so its temporaries live in a pool of their own (CudaArenaPool), filled by one eager run of the same
// work before the capture; the inputs are tensors the caller overwrites in place before each replay.
public sealed unsafe partial class CudaOps
{
    bool _capturing;

    /// <summary>Whether work is being recorded into a graph right now (host transfers and waits are refused).</summary>
    public bool IsCapturing => _capturing;

    /// <summary>Runs <paramref name="work"/> eagerly with its allocations in <paramref name="pool"/>: the warm-up
    /// after which a capture of the same work finds every block it needs cached.</summary>
    public Tensor RunInPool(CudaArenaPool pool, Func<Tensor> work)
    {
        Enter();
        using (_arena.UsePool(pool)) return work();
    }

    /// <summary>Records <paramref name="work"/> into a graph (nothing runs now). Its allocations must all be served
    /// from <paramref name="pool"/>'s cache, so run the same work through <see cref="RunInPool"/> first. Throws
    /// <see cref="GraphCaptureException"/> (or the driver's error) when the work cannot be captured; the stream is
    /// out of capture mode either way.</summary>
    public CapturedGraph Capture(CudaArenaPool pool, Func<Tensor> work)
    {
        Enter();
        NotWhileCapturing("a nested capture");
        Tensor y;
        CudaGraph graph;
        using (_arena.UsePool(pool, allowFresh: false))
        {
            _stream.BeginCapture();
            _capturing = true;
            try { y = work(); }
            catch
            {
                _capturing = false;
                try { _stream.EndCapture().Dispose(); }
                catch (CudaException) { }   // the capture was invalidated: what matters is the first error
                throw;
            }
            _capturing = false;
            graph = _stream.EndCapture();
        }
        try
        {
            using (graph) return new CapturedGraph(this, graph.Instantiate(), y);
        }
        catch
        {
            y.Dispose();
            throw;
        }
    }

    void NotWhileCapturing(string what)
    {
        if (_capturing)
            throw new GraphCaptureException($"{what} while a CUDA graph is being captured: a graph cannot hold host transfers or waits, so this work has to run eagerly");
    }
}

/// <summary>An instantiated CUDA graph and the tensor each replay writes (a block of the graph's pool).</summary>
public sealed class CapturedGraph : IDisposable
{
    readonly CudaOps _ops;
    readonly CudaGraphExec _exec;

    internal CapturedGraph(CudaOps ops, CudaGraphExec exec, Tensor output)
    {
        _ops = ops;
        _exec = exec;
        Output = output;
    }

    /// <summary>Overwritten by every <see cref="Replay"/>: copy what must outlive the next one.</summary>
    public Tensor Output { get; }

    /// <summary>Queues the recorded work on the stream, reading the inputs' current contents.</summary>
    public void Replay() => _exec.Launch(_ops.Stream);

    public void Dispose()
    {
        _exec.Dispose();
        Output.Dispose();
    }
}
