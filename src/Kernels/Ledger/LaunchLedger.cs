namespace XDit.Kernels.Ledger;

/// <summary>
/// What a pass through <see cref="LedgerOps"/> did, op by op (<see cref="Entries"/>), with the block each op ran in
/// (<see cref="Scope"/>, set by whoever drives the model's stages) and the launches by kernel or library call name
/// (<see cref="LaunchesByName"/>, on the CUDA backend).
/// </summary>
public sealed class LaunchLedger
{
    readonly List<LedgerEntry> _entries = new();
    readonly Dictionary<string, long> _byName = new();

    public IReadOnlyList<LedgerEntry> Entries => _entries;
    public IReadOnlyDictionary<string, long> LaunchesByName => _byName;

    /// <summary>The block the ops recorded now belong to ("" outside any).</summary>
    public string CurrentScope { get; private set; } = "";

    /// <summary>Ops recorded until the returned handle is disposed belong to <paramref name="name"/>; the scope
    /// before it comes back after.</summary>
    public IDisposable Scope(string name)
    {
        var restore = new Restore(this, CurrentScope);
        CurrentScope = name;
        return restore;
    }

    sealed class Restore(LaunchLedger ledger, string previous) : IDisposable
    {
        public void Dispose() => ledger.CurrentScope = previous;
    }

    internal void Add(LedgerEntry e) => _entries.Add(e);

    internal void CountLaunch(string name) => _byName[name] = _byName.GetValueOrDefault(name) + 1;

    public void Clear()
    {
        _entries.Clear();
        _byName.Clear();
    }
}
