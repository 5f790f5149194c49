namespace XDit.Models;

/// <summary>
/// What loading noticed about a checkpoint without refusing it (tensors the model never reads), collected for the
/// code that loads a whole pipeline so it can pass them on as warnings once someone listens. Ambient (per async
/// flow), so models report without a warning sink in every Load signature and two pipelines loading on two threads
/// keep their notes apart. With no collector active the notes are dropped.
/// </summary>
public static class CheckpointNotes
{
    static readonly AsyncLocal<List<string>?> Current = new();

    /// <summary>Starts collecting on this flow until the returned scope is disposed (scopes nest).</summary>
    public static Scope Collect() => new();

    public static void Report(string message) => Current.Value?.Add(message);

    public sealed class Scope : IDisposable
    {
        readonly List<string>? _outer = Current.Value;
        readonly List<string> _messages = new();

        internal Scope() => Current.Value = _messages;

        public IReadOnlyList<string> Messages => _messages;

        public void Dispose() => Current.Value = _outer;
    }
}
