using XDit.Models;
using XDit.Runtime;

namespace XDit.Engine.Execution;

/// <summary>Row (batch) slices of <see cref="DitInputs"/>, for executors that give ranks different rows (CFG
/// parallel: the negative half to one rank, the positive half to the other).</summary>
public static class DitInputRows
{
    /// <summary>The number of batch rows of <paramref name="inputs"/> (HiddenStates' first axis).</summary>
    public static int Count(DitInputs inputs) => inputs.HiddenStates.Dim(0);

    /// <summary>
    /// Rows [start, start + count) of every batched field (HiddenStates, EncoderHiddenStates, EncoderAttentionMask,
    /// PooledProjections, Timestep, Guidance, Resolution, AspectRatio, and HunyuanDiT's EncoderHiddenStatesT5,
    /// EncoderAttentionMaskT5, ImageMetaSize, Style; SDXL's TimeIds; CogVideoX's Ofs when it has one value per row) as
    /// views, with no copy; ImgIds, TxtIds and the rotary tables ImageRotaryCos/Sin are per token, not per row, and a
    /// single Ofs value is for every row: those are passed on as they are. Every batched field must have the rows HiddenStates has.
    /// The views share the caller's tensors: keep those alive while the slice is used, nothing to dispose.
    /// </summary>
    public static DitInputs Slice(DitInputs inputs, int start, int count)
    {
        int rows = Count(inputs);
        if (start < 0 || count < 1 || start + count > rows)
            throw new ArgumentOutOfRangeException(nameof(start), $"rows [{start}, {start + count}) are not inside the {rows} rows of the model inputs");
        return inputs with
        {
            HiddenStates = Rows(inputs.HiddenStates, nameof(DitInputs.HiddenStates), rows, start, count),
            EncoderHiddenStates = Rows(inputs.EncoderHiddenStates, nameof(DitInputs.EncoderHiddenStates), rows, start, count),
            EncoderAttentionMask = RowsOrNull(inputs.EncoderAttentionMask, nameof(DitInputs.EncoderAttentionMask), rows, start, count),
            PooledProjections = RowsOrNull(inputs.PooledProjections, nameof(DitInputs.PooledProjections), rows, start, count),
            Timestep = Rows(inputs.Timestep, nameof(DitInputs.Timestep), rows, start, count),
            Guidance = inputs.Guidance is null ? null : Rows(inputs.Guidance, nameof(DitInputs.Guidance), rows, start, count),
            Resolution = RowsOrNull(inputs.Resolution, nameof(DitInputs.Resolution), rows, start, count),
            AspectRatio = RowsOrNull(inputs.AspectRatio, nameof(DitInputs.AspectRatio), rows, start, count),
            EncoderHiddenStatesT5 = RowsOrNull(inputs.EncoderHiddenStatesT5, nameof(DitInputs.EncoderHiddenStatesT5), rows, start, count),
            EncoderAttentionMaskT5 = RowsOrNull(inputs.EncoderAttentionMaskT5, nameof(DitInputs.EncoderAttentionMaskT5), rows, start, count),
            ImageMetaSize = RowsOrNull(inputs.ImageMetaSize, nameof(DitInputs.ImageMetaSize), rows, start, count),
            Style = inputs.Style is null ? null : Rows(inputs.Style, nameof(DitInputs.Style), rows, start, count),
            TimeIds = inputs.TimeIds is null ? null : RowBlocks(inputs.TimeIds, nameof(DitInputs.TimeIds), rows, start, count),
            Ofs = inputs.Ofs is null || inputs.Ofs.Length == 1 ? inputs.Ofs : Rows(inputs.Ofs, nameof(DitInputs.Ofs), rows, start, count),
        };
    }

    /// <summary>Rows [start, start + count) of values stored row-major with the same number per row.</summary>
    static float[] RowBlocks(float[] values, string field, int rows, int start, int count)
    {
        if (values.Length % rows != 0)
            throw new ArgumentException($"DitInputs.{field} holds {values.Length} values, not the same number for each of the {rows} rows");
        int per = values.Length / rows;
        return values[(start * per)..((start + count) * per)];
    }

    static Tensor? RowsOrNull(Tensor? t, string field, int rows, int start, int count) =>
        t is null ? null : Rows(t, field, rows, start, count);

    static Tensor Rows(Tensor t, string field, int rows, int start, int count)
    {
        if (t.Rank < 1 || t.Dim(0) != rows)
            throw new ArgumentException($"DitInputs.{field} is {Shape.Format(t.ShapeSpan)} but the inputs have {rows} rows (HiddenStates' first axis); every batched field needs one row per batch row");
        return t.Slice(0, start, count);
    }

    static T[] Rows<T>(T[] values, string field, int rows, int start, int count)
    {
        if (values.Length != rows)
            throw new ArgumentException($"DitInputs.{field} holds {values.Length} values but the inputs have {rows} rows; it needs one value per row");
        return values[start..(start + count)];
    }
}
