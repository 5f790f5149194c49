using XDit.Models;
using XDit.Runtime;

namespace XDit.Engine.PipeFusion;

/// <summary>Keeps a range of batch rows of a model's inputs (a cfg rank's negative or positive half). The tensors
/// are views; per-row inputs are recognised by their leading dimension equal to the total row count.</summary>
static class DitInputRows
{
    public static DitInputs Slice(DitInputs x, int start, int count, int rows)
    {
        Tensor? Rows(Tensor? t) => t is not null && t.Rank >= 1 && t.Dim(0) == rows ? t.Slice(0, start, count) : t;
        float[]? Values(float[]? v) => v is not null && v.Length == rows ? v.AsSpan(start, count).ToArray() : v;
        return x with
        {
            HiddenStates = Rows(x.HiddenStates)!,
            EncoderHiddenStates = Rows(x.EncoderHiddenStates)!,
            EncoderAttentionMask = Rows(x.EncoderAttentionMask),
            PooledProjections = Rows(x.PooledProjections),
            Timestep = Values(x.Timestep)!,
            Guidance = Values(x.Guidance),
            Resolution = Rows(x.Resolution),
            AspectRatio = Rows(x.AspectRatio),
        };
    }
}
