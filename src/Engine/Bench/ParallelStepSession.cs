using XDit.Comm;
using XDit.Engine.Execution;
using XDit.Kernels;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Engine.Bench;

/// <summary>
/// In-process ranks that stay up between steps: each loads the model and its inputs once, then waits for
/// <see cref="Step"/> to run one <see cref="MeshExecutor.Predict"/>. So a timed step is one step, not a world's
/// start-up and a model load. The first failure of any rank is rethrown by the Step (or the constructor) that saw it.
/// </summary>
public sealed class ParallelStepSession : IDisposable
{
    readonly InProcessWorld _world;
    readonly Thread _runner;
    readonly SemaphoreSlim[] _go;
    readonly CountdownEvent _done;
    volatile bool _stop;
    Exception? _error;

    public ParallelStepSession(DeviceMesh mesh, IStepWorkload workload)
    {
        Mesh = mesh;
        _world = new InProcessWorld(mesh.WorldSize);
        _go = Enumerable.Range(0, mesh.WorldSize).Select(_ => new SemaphoreSlim(0)).ToArray();
        _done = new CountdownEvent(mesh.WorldSize);
        _runner = new Thread(() =>
        {
            try { _world.Run(comm => RankLoop(comm, workload)); }
            catch (Exception e) { _error ??= e; }
        }) { IsBackground = true, Name = "xdit-bench-world" };
        _runner.Start();
        Wait(); // every rank has loaded its model
    }

    public DeviceMesh Mesh { get; }
    public InProcessWorld World => _world;

    /// <summary>Runs one denoising step on every rank and returns when all have finished it.</summary>
    public void Step()
    {
        ObjectDisposedException.ThrowIf(_stop, this);
        foreach (var g in _go) g.Release();
        Wait();
    }

    void Wait()
    {
        _done.Wait();
        _done.Reset();
        if (_error is null) return;
        // Ranks still waiting for a step are let go, so the world ends instead of idling.
        _stop = true;
        foreach (var g in _go) g.Release();
        throw new InvalidOperationException($"parallel step on {Mesh} failed: {_error.Message}", _error);
    }

    int RankLoop(ICommunicator comm, IStepWorkload workload)
    {
        var ops = comm.Ops;
        var owned = new List<Tensor>();
        DiffusionTransformer? model = null;
        bool signalled = false;
        try
        {
            model = workload.Load(ops);
            var inputs = workload.Inputs(ops, owned);
            var executor = new MeshExecutor(Mesh, comm);
            _done.Signal(); signalled = true;
            for (int step = 0; ; step++)
            {
                _go[comm.Rank].Wait();
                signalled = false;
                if (_stop) return 0;
                using (executor.Predict(ops, model, inputs, step)) { }
                _done.Signal(); signalled = true;
            }
        }
        catch (Exception e)
        {
            lock (_go) _error ??= e;
            throw;
        }
        finally
        {
            foreach (var t in owned) t.Dispose();
            model?.Dispose();
            if (!signalled) _done.Signal();
        }
    }

    public void Dispose()
    {
        if (!_runner.IsAlive) return;
        _stop = true;
        foreach (var g in _go) g.Release();
        _runner.Join();
    }
}
