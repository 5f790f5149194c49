using XDit.Runtime;

namespace XDit.Models;

/// <summary>
/// The tensors a transformer's Embed makes for its <see cref="DitState"/>: this scope owns them until
/// <see cref="HandTo"/> gives them to the state, and disposes them when Embed throws before that (a bad input found
/// halfway, an allocation that fails), so a failed Embed leaks nothing. Use it with <c>using</c>.
/// </summary>
public sealed class EmbedScope : IDisposable
{
    readonly List<Tensor> _made = new();

    /// <summary>Takes <paramref name="t"/> into the scope and returns it.</summary>
    public Tensor Add(Tensor t) { _made.Add(t); return t; }

    /// <summary>Disposes a tensor of the scope that the state will not hold (a later stage replaced it).</summary>
    public void Drop(Tensor t)
    {
        _made.Remove(t);
        t.Dispose();
    }

    /// <summary>Makes <paramref name="state"/> the owner of every tensor of the scope (in the order they were added)
    /// and returns it; the scope then disposes nothing.</summary>
    public DitState HandTo(DitState state)
    {
        foreach (var t in _made) state.Own(t);
        _made.Clear();
        return state;
    }

    public void Dispose()
    {
        foreach (var t in _made) t.Dispose();
        _made.Clear();
    }
}
