using XDit.Kernels;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Engine.Caches;

/// <summary>
/// The change a run of blocks made to the token streams: image residual, and the text residual for joint models
/// whose blocks rewrite the text (SD3, Flux). PixArt's caption is only read by its blocks and stays as it is; SD3's
/// last block drops the text stream, which <see cref="Apply"/> repeats. Owns its tensors.
/// </summary>
public sealed class StreamResidual : IDisposable
{
    Tensor? _image, _text;
    bool _textDropped;

    /// <summary>Copies of the streams before the blocks run (the state replaces and frees them as blocks run).</summary>
    public sealed class Snapshot : IDisposable
    {
        internal Tensor Image = null!;
        internal Tensor? Text;
        internal Tensor? TextRef;
        public void Dispose() { Image.Dispose(); Text?.Dispose(); }
    }

    public static Snapshot Take(IOps ops, DitState state) => new()
    {
        Image = ops.Contiguous(state.Image),
        Text = state.Text is null ? null : ops.Contiguous(state.Text),
        TextRef = state.Text,
    };

    /// <summary>Stores state − before for each stream (replacing what was stored).</summary>
    public void Capture(IOps ops, Snapshot before, DitState state)
    {
        Clear();
        _image = Difference(ops, state.Image, before.Image);
        if (state.Text is null) _textDropped = before.Text is not null;
        else if (!ReferenceEquals(state.Text, before.TextRef)) _text = Difference(ops, state.Text, before.Text!);
    }

    /// <summary>Runs blocks [<paramref name="firstBlock"/>, NumBlocks) and stores the residual they made or, when
    /// <paramref name="reuse"/>, adds the stored residual instead of running them (then the model does the state
    /// bookkeeping of each skipped block, e.g. HunyuanDiT's long skips).</summary>
    public void RunOrReuse(IOps ops, DiffusionTransformer model, DitState state, IAttention attention, int firstBlock, bool reuse)
    {
        if (reuse)
        {
            Apply(ops, state);
            for (int i = firstBlock; i < model.NumBlocks; i++) model.BlockStoodIn(ops, i, state);
            return;
        }
        using var before = Take(ops, state);
        for (int i = firstBlock; i < model.NumBlocks; i++) model.RunBlock(ops, i, state, attention);
        Capture(ops, before, state);
    }

    public bool HasValue => _image is not null;

    /// <summary>Whether a residual captured on another batch or token count would fit this state.</summary>
    public bool Fits(DitState state) => _image is not null && _image.ShapeSpan.SequenceEqual(state.Image.ShapeSpan)
        && (_text is null || (state.Text is not null && _text.ShapeSpan.SequenceEqual(state.Text.ShapeSpan)));

    /// <summary>Adds the stored residuals to the state's streams, as if the blocks had run.</summary>
    public void Apply(IOps ops, DitState state)
    {
        if (_image is null) throw new InvalidOperationException("no residual has been captured yet");
        state.ReplaceImage(ops.Add(state.Image, _image));
        if (_textDropped) state.ReplaceText(null);
        else if (_text is not null) state.ReplaceText(ops.Add(state.Text!, _text));
    }

    /// <summary>after − before, elementwise (same shapes).</summary>
    internal static Tensor Difference(IOps ops, Tensor after, Tensor before)
    {
        if (!after.ShapeSpan.SequenceEqual(before.ShapeSpan))
            throw new InvalidOperationException($"the blocks changed a stream's shape from {Shape.Format(before.ShapeSpan)} to {Shape.Format(after.ShapeSpan)}; a residual cannot stand in for them");
        // after + (−1)·before: GatedResidual needs a gate per row, Scale then Add keeps to plain ops.
        using var neg = ops.Scale(before, -1f);
        return ops.Add(after, neg);
    }

    public void Clear()
    {
        _image?.Dispose(); _image = null;
        _text?.Dispose(); _text = null;
        _textDropped = false;
    }

    public void Dispose() => Clear();
}
