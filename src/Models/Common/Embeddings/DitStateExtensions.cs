using XDit.Runtime;

namespace XDit.Models.Embeddings;

/// <summary>Replacing the token streams of a <see cref="DitState"/> block by block without leaking: the new tensor
/// becomes owned by the state, the old one is disposed when the state owned it (else its owner keeps it).</summary>
public static class DitStateExtensions
{
    public static void ReplaceImage(this DitState state, Tensor next)
    {
        var old = state.Image;
        state.Image = state.Own(next);
        Release(state, old);
    }

    public static void ReplaceText(this DitState state, Tensor? next)
    {
        var old = state.Text;
        state.Text = next is null ? null : state.Own(next);
        if (old is not null) Release(state, old);
    }

    static void Release(DitState state, Tensor old)
    {
        if (state.Owned.Remove(old)) old.Dispose();
    }
}
