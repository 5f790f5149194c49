using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models;

/// <summary>
/// What flows through the blocks of a DiT. Image tokens can be a slice of the full sequence (sequence
/// parallelism, PipeFusion patches); everything else is replicated.
/// </summary>
public sealed class DitState : IDisposable
{
    /// <summary>Image tokens this rank holds: [B, TokenCount, D].</summary>
    public required Tensor Image { get; set; }
    /// <summary>Text tokens: the joint stream [B, T, D] (SD3, Flux) or the projected caption for cross-attention (PixArt).</summary>
    public Tensor? Text { get; set; }
    /// <summary>Additive key bias [B, T] for attention to the text (PixArt's padding mask), else null.</summary>
    public Tensor? TextKeyBias { get; set; }
    /// <summary>Conditioning vector(s) from the timestep (and pooled text / guidance / micro-conditions). SD3 and Flux
    /// keep SiLU of it here, computed once per forward, since each of its consumers (the blocks' adaptive norms, norm_out)
    /// would take it.</summary>
    public required Tensor Conditioning { get; set; }
    /// <summary>PixArt's embedded timestep [B, D] (before adaln_single's 6·D linear), which its Finish modulates
    /// the output norm with; null for other models.</summary>
    public Tensor? EmbeddedTimestep { get; set; }
    /// <summary>RoPE tables for the image tokens held [TokenCount, d] and for the text tokens [T, d] (Flux).</summary>
    public Tensor? ImageRopeCos { get; set; }
    public Tensor? ImageRopeSin { get; set; }
    public Tensor? TextRopeCos { get; set; }
    public Tensor? TextRopeSin { get; set; }
    /// <summary>Which image tokens are held: [TokenStart, TokenStart + TokenCount) of TotalTokens.</summary>
    public int TokenStart { get; set; }
    public int TokenCount => Image.Dim(1);
    public required int TotalTokens { get; init; }
    /// <summary>Patch grid of the image tokens (gh·gw = TotalTokens). A video model stacks the rows of its
    /// <see cref="GridT"/> frames: GridH = frames · rows per frame.</summary>
    public required int GridH { get; init; }
    public required int GridW { get; init; }
    /// <summary>Frames of the patch grid (video models, CogVideoX: latent frame groups); 1 for images. Each frame is
    /// GridH / GridT rows of GridW tokens.</summary>
    public int GridT { get; init; } = 1;

    readonly List<Tensor> _skips = new();

    /// <summary>Long skip connections (HunyuanDiT): block outputs [B, TokenCount, D] kept for a later block, the
    /// latest last (a stack: block i's output feeds block num_layers − 1 − i). Per token like <see cref="Image"/>
    /// (so sharded with it, and one set per PipeFusion patch); empty right after Embed and for models without long
    /// skips. The state owns what it keeps (<see cref="PushSkip"/>, <see cref="PopSkip"/>).</summary>
    public IReadOnlyList<Tensor> Skips => _skips;

    /// <summary>Names of the fixed slots of <see cref="Tensors"/>, in their order; the held <see cref="Skips"/>
    /// follow them there (<see cref="SkipsName"/>[k]).</summary>
    public static IReadOnlyList<string> TensorNames { get; } =
        [nameof(Image), nameof(Text), nameof(TextKeyBias), nameof(Conditioning), nameof(EmbeddedTimestep),
         nameof(ImageRopeCos), nameof(ImageRopeSin), nameof(TextRopeCos), nameof(TextRopeSin)];

    /// <summary>The name the k-th held skip has among <see cref="Tensors"/>.</summary>
    public const string SkipsName = nameof(Skips);

    /// <summary>Every tensor the blocks and Finish may read: the fixed slots in the order of <see cref="TensorNames"/>
    /// (null where the model has none), then the held <see cref="Skips"/> (oldest first): what an executor copies into
    /// fixed buffers (a CUDA graph's inputs) or keys a cache by.</summary>
    public IReadOnlyList<Tensor?> Tensors =>
        [Image, Text, TextKeyBias, Conditioning, EmbeddedTimestep, ImageRopeCos, ImageRopeSin, TextRopeCos, TextRopeSin, .. _skips];

    /// <summary>A state of the same token layout over other <paramref name="tensors"/> (in <see cref="Tensors"/>'
    /// order: the fixed slots, then any skips), owning none of them.</summary>
    public DitState WithTensors(IReadOnlyList<Tensor?> tensors)
    {
        if (tensors.Count < TensorNames.Count)
            throw new ArgumentException($"a DitState has {TensorNames.Count} tensor slots ({string.Join(", ", TensorNames)}) and then its skips, got {tensors.Count} tensors");
        var s = new DitState
        {
            Image = tensors[0] ?? throw new ArgumentException("a DitState needs its Image tensor"),
            Text = tensors[1],
            TextKeyBias = tensors[2],
            Conditioning = tensors[3] ?? throw new ArgumentException("a DitState needs its Conditioning tensor"),
            EmbeddedTimestep = tensors[4],
            ImageRopeCos = tensors[5], ImageRopeSin = tensors[6], TextRopeCos = tensors[7], TextRopeSin = tensors[8],
            TokenStart = TokenStart, TotalTokens = TotalTokens, GridH = GridH, GridW = GridW, GridT = GridT,
        };
        for (int k = TensorNames.Count; k < tensors.Count; k++)
            s._skips.Add(tensors[k] ?? throw new ArgumentException($"a DitState's {SkipsName}[{k - TensorNames.Count}] cannot be null"));
        return s;
    }

    /// <summary>Keeps <paramref name="t"/> (usually the current <see cref="Image"/>) as the newest skip. The state owns
    /// it when it already did or when <paramref name="own"/>; replacing the image no longer frees it.</summary>
    public void PushSkip(Tensor t, bool own = false)
    {
        if (t.Rank != 3 || t.Dim(1) != TokenCount)
            throw new ArgumentException($"a long skip must be [B, {TokenCount}, D] like the image tokens held; got {Shape.Format(t.ShapeSpan)}");
        if (own && !Owned.Contains(t)) Owned.Add(t);
        _skips.Add(t);
    }

    /// <summary>Removes the newest skip and returns it; the caller disposes it with <see cref="Drop"/> once used.</summary>
    public Tensor PopSkip()
    {
        if (_skips.Count == 0) throw new InvalidOperationException("a block asked for a long skip, but the state holds none (were the earlier blocks run on this state?)");
        var t = _skips[^1];
        _skips.RemoveAt(_skips.Count - 1);
        return t;
    }

    /// <summary>Frees a tensor that left the state (a popped skip) when the state owned it and no slot still holds it.</summary>
    public void Drop(Tensor t) => Release(t);

    /// <summary>Tensors owned by this state, disposed with it (replaced values are tracked by the model).</summary>
    public List<Tensor> Owned { get; } = new();

    /// <summary>Keeps only the image tokens [start, start + count) (and their RoPE rows); called once per step by
    /// sequence-parallel executors, right after Embed.</summary>
    public void Shard(IOps ops, int start, int count)
    {
        // skips are per token: the shard keeps its rows of each (none are held right after Embed)
        for (int k = 0; k < _skips.Count; k++) _skips[k] = Keep(ops, _skips[k].Slice(1, start, count));
        Image = Keep(ops, Image.Slice(1, start, count));
        if (ImageRopeCos is not null) ImageRopeCos = Keep(ops, ImageRopeCos.Slice(0, start, count));
        if (ImageRopeSin is not null) ImageRopeSin = Keep(ops, ImageRopeSin.Slice(0, start, count));
        TokenStart += start;
    }

    /// <summary>A fresh contiguous copy of a view, owned by this state.</summary>
    public Tensor Keep(IOps ops, Tensor view)
    {
        var t = ops.Contiguous(view);
        Owned.Add(t);
        return t;
    }

    /// <summary>Registers a tensor for disposal with the state and returns it.</summary>
    public Tensor Own(Tensor t) { Owned.Add(t); return t; }

    /// <summary>Replaces the image tokens block by block without leaking: the new tensor becomes owned by the state,
    /// the old one is disposed when the state owned it (else its owner keeps it).</summary>
    public void ReplaceImage(Tensor next)
    {
        var old = Image;
        Image = Own(next);
        Release(old);
    }

    /// <summary>As <see cref="ReplaceImage"/> for the text tokens; null ends the text stream (SD3's last block).</summary>
    public void ReplaceText(Tensor? next)
    {
        var old = Text;
        Text = next is null ? null : Own(next);
        if (old is not null) Release(old);
    }

    void Release(Tensor old)
    {
        // a block's output kept as a skip outlives its time as the image tokens
        if (ReferenceEquals(old, Image) || _skips.Any(k => ReferenceEquals(k, old))) return;
        if (Owned.Remove(old)) old.Dispose();
    }

    public void Dispose()
    {
        foreach (var t in Owned) t.Dispose();
        Owned.Clear();
        _skips.Clear();
    }
}
