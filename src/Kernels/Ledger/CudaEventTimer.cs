using XDit.Kernels.Cuda;
using XDit.Runtime.Cuda;

namespace XDit.Kernels.Ledger;

/// <summary>
/// Per-op device times from CUDA events: a pair of timing events recorded on the CudaOps stream around each op,
/// read after the pass (one synchronisation at the end, none between ops, so the ops queue as they would without
/// the ledger). Events come from a pool that grows to the pass's op count and is reused by the next pass. An op's
/// time includes any idle gap inside it while the host was still queueing its launches: what the op costs as run.
/// </summary>
public sealed class CudaEventTimer(CudaOps ops) : IOpTimer
{
    readonly List<CudaEvent> _pool = new();
    readonly List<(int Start, int Stop, LedgerEntry Entry)> _pending = new();
    int _used;

    int Next()
    {
        if (_used == _pool.Count) _pool.Add(new CudaEvent(timing: true));
        _pool[_used].Record(ops.Stream);
        return _used++;
    }

    public int Start() => Next();

    public void Stop(int token, LedgerEntry entry) => _pending.Add((token, Next(), entry));

    public void Resolve()
    {
        if (_pending.Count > 0)
        {
            _pool[_pending[^1].Stop].Synchronize();
            foreach (var (start, stop, entry) in _pending) entry.MeasuredMs = _pool[stop].ElapsedSince(_pool[start]);
        }
        _pending.Clear();
        _used = 0;
    }

    public void Dispose()
    {
        foreach (var e in _pool) e.Dispose();
        _pool.Clear();
    }
}
