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

public enum AttentionKind { Self, Cross }

/// <summary>Output of one attention call: the rows of the local tokens, and of the joint tokens when there were any.</summary>
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

/// <summary>Plain single-rank attention: concatenates joint tokens where the model says and calls the op.</summary>
public sealed class LocalAttention : IAttention
{
    public static readonly LocalAttention Instance = new();

    public AttentionResult Run(IOps ops, AttentionCall call)
    {
        if (call.JointQ is null)
            return new AttentionResult(ops.Attention(call.Q, call.K, call.V, call.Options), null);

        int t = call.JointQ.Dim(1), n = call.Q.Dim(1);
        using var q = call.JointFirst ? ops.Concat(1, call.JointQ, call.Q) : ops.Concat(1, call.Q, call.JointQ);
        using var k = call.JointFirst ? ops.Concat(1, call.JointK!, call.K) : ops.Concat(1, call.K, call.JointK!);
        using var v = call.JointFirst ? ops.Concat(1, call.JointV!, call.V) : ops.Concat(1, call.V, call.JointV!);
        using var o = ops.Attention(q, k, v, call.Options);
        var img = ops.Contiguous(o.Slice(1, call.JointFirst ? t : 0, n));
        var txt = ops.Contiguous(o.Slice(1, call.JointFirst ? 0 : n, t));
        return new AttentionResult(img, txt);
    }
}
