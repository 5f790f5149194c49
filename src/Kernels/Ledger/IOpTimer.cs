namespace XDit.Kernels.Ledger;

/// <summary>Times each op of a ledger pass on the device (<see cref="CudaEventTimer"/>): <see cref="Start"/> before
/// the op is queued, <see cref="Stop"/> after, <see cref="Resolve"/> once the pass is queued, which waits for the
/// device and fills each entry's <see cref="LedgerEntry.MeasuredMs"/>.</summary>
public interface IOpTimer : IDisposable
{
    int Start();
    void Stop(int token, LedgerEntry entry);
    void Resolve();
}
