using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models;

/// <summary>What a model asks of attention at one layer. Tensors are [B, tokens, H, d].</summary>
public sealed record AttentionCall
{
    /// <summary>Names the layer uniquely within a forward pass ("transformer_blocks.3.attn1"): the key for
    /// per-layer state such as PipeFusion's stale K/V buffers.</summary>
    public required string Layer { get; init; }
    /// <summary>Self-attention over image tokens (sequence-parallel executors split these), or cross-attention
    /// whose K/V (text) are replicated on every rank.</summary>
    public required AttentionKind Kind { get; init; }
    /// <summary>Queries, keys and values of the tokens this rank owns (the image tokens, or for cross-attention
    /// the image queries and the text keys/values).</summary>
    public required Tensor Q { get; init; }
    public required Tensor K { get; init; }
    public required Tensor V { get; init; }
    /// <summary>Joint attention (SD3, Flux): q/k/v of the text tokens, the same on every rank, attended together
    /// with the image tokens in one softmax. Null for plain self- or cross-attention.</summary>
    public Tensor? JointQ { get; init; }
    public Tensor? JointK { get; init; }
    public Tensor? JointV { get; init; }
    /// <summary>Where the joint (text) tokens sit in the concatenated sequence: Flux puts text first, SD3 last.</summary>
    public bool JointFirst { get; init; }
    /// <summary>Extra options for the op (key padding bias for cross-attention, causal, relative bias).</summary>
    public AttentionOptions? Options { get; init; }
}

/// <summary>Self: softmax self-attention over the image tokens (sequence-parallel executors split these). Cross:
/// keys/values (text) replicated on every rank. Linear: ReLU linear self-attention over the image tokens (SANA):
/// out_i = Σ_j v_j·(relu(k_j)·relu(q_i)) / (Σ_j relu(k_j)·relu(q_i) + <see cref="LocalAttention.LinearEps"/>), no
/// options; its key/value sums (<see cref="Kernels.IOps.LinearAttentionSums"/>) add over token slices, so a sequence-
/// parallel executor all-reduces them instead of exchanging keys and values.</summary>
public enum AttentionKind { Self, Cross, Linear }

/// <summary>Output of one attention call: the rows of the local tokens, and of the joint tokens when there were any.
/// Both may be views of one result: then JointOutput owns it, so dispose JointOutput after Output's last use
/// (<see cref="LocalAttention"/> over adjacent image and text rows).</summary>
public readonly record struct AttentionResult(Tensor Output, Tensor? JointOutput);

/// <summary>
/// The attention implementation the engine hands a model. Models are unaware of ranks: the default
/// <see cref="LocalAttention"/> computes over what it is given; the engine's Ulysses/Ring/PipeFusion versions
/// communicate behind the same call.
/// </summary>
public interface IAttention
{
    AttentionResult Run(IOps ops, AttentionCall call);
}

/// <summary>Plain single-rank attention: concatenates joint tokens where the model says and calls the op. Where the
/// model wrote the joint tokens' q/k/v as the rows right after (or, JointFirst, right before) the image tokens' in
/// one tensor, there is nothing to concatenate: the op runs over the joined view, and the image and text rows of
/// its output are handed back as views of it (no split either).</summary>
public sealed class LocalAttention : IAttention
{
    public static readonly LocalAttention Instance = new();

    /// <summary>The denominator's eps of ReLU linear attention (diffusers' SanaLinearAttnProcessor2_0: 1e-15).</summary>
    public const float LinearEps = 1e-15f;

    public AttentionResult Run(IOps ops, AttentionCall call)
    {
        if (call.Kind == AttentionKind.Linear)
        {
            if (call.JointQ is not null || call.Options is not null)
                throw new NotSupportedException($"{call.Layer}: linear attention takes no joint tokens and no options");
            using var sums = ops.LinearAttentionSums(call.K, call.V);
            return new AttentionResult(ops.LinearAttentionApply(call.Q, sums, LinearEps), null);
        }
        if (call.JointQ is null)
            return new AttentionResult(ops.Attention(call.Q, call.K, call.V, call.Options), null);

        int t = call.JointQ.Dim(1), n = call.Q.Dim(1);
        if (Joined(call, call.Q, call.JointQ) is { } jq && Joined(call, call.K, call.JointK!) is { } jk && Joined(call, call.V, call.JointV!) is { } jv)
        {
            var all = ops.Attention(jq, jk, jv, call.Options);
            // one result, two views: the text view takes over the storage (the result itself is dropped undisposed,
            // as a Tensor has no finalizer), so the caller frees it by disposing JointOutput
            int imgAt = call.JointFirst ? t : 0, txtAt = call.JointFirst ? 0 : n;
            var txtView = all.Slice(1, txtAt, t);
            var txtOwner = new Tensor(all.Storage, all.DType, txtView.Dims, txtView.Strides.ToArray(), txtView.Offset, owns: all.OwnsStorage);
            return new AttentionResult(all.Slice(1, imgAt, n), txtOwner);
        }
        using var q = call.JointFirst ? ops.Concat(1, call.JointQ, call.Q) : ops.Concat(1, call.Q, call.JointQ);
        using var k = call.JointFirst ? ops.Concat(1, call.JointK!, call.K) : ops.Concat(1, call.K, call.JointK!);
        using var v = call.JointFirst ? ops.Concat(1, call.JointV!, call.V) : ops.Concat(1, call.V, call.JointV!);
        using var o = ops.Attention(q, k, v, call.Options);
        var img = ops.Contiguous(o.Slice(1, call.JointFirst ? t : 0, n));
        var txt = ops.Contiguous(o.Slice(1, call.JointFirst ? 0 : n, t));
        return new AttentionResult(img, txt);
    }

    /// <summary>The image and joint tensors as one view along the token axis, when they are adjacent rows of one
    /// storage in the call's order with the same layout; else null.</summary>
    static Tensor? Joined(AttentionCall call, Tensor image, Tensor joint)
    {
        var (first, second) = call.JointFirst ? (joint, image) : (image, joint);
        if (!ReferenceEquals(first.Storage, second.Storage) || first.DType != second.DType || first.Rank != 4 || second.Rank != 4)
            return null;
        for (int i = 0; i < 4; i++)
            if (first.Strides[i] != second.Strides[i] || (i != 1 && first.Dim(i) != second.Dim(i))) return null;
        if (second.Offset != first.Offset + first.Dim(1) * first.Strides[1]) return null;
        var dims = first.Dims;
        dims[1] += second.Dim(1);
        return new Tensor(first.Storage, first.DType, dims, first.Strides.ToArray(), first.Offset);
    }
}
