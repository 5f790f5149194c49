using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Mistral;

/// <summary>
/// Flux2Pipeline's prompt embeddings from its Mistral text encoder (_get_mistral_3_small_prompt_embeds): the hidden
/// states of a few intermediate layers, stacked on a new axis after the batch and moved behind the tokens, so that
/// each token's row is its layers' states side by side: [B, L, n·D], feature c·D + d = hidden_states[layers[c]][…, d].
/// Padded tokens keep their rows (the pipeline pads to max_sequence_length and passes every row on).
/// </summary>
public static class Flux2PromptEmbeds
{
    /// <summary>The pipeline's hidden_states_layers.</summary>
    public static readonly int[] DefaultLayers = [10, 20, 30];

    /// <summary>The pipeline's max_sequence_length: prompts are padded (and truncated) to it.</summary>
    public const int MaxSequenceLength = 512;

    /// <summary>prompt_embeds [B, L, n·D] from the hidden states of the n layers, in the pipeline's order.</summary>
    public static Tensor Interleave(IOps ops, IReadOnlyList<Tensor> layerStates)
    {
        if (layerStates.Count == 0) throw new ArgumentException("Flux 2 prompt embeds: no layer states given", nameof(layerStates));
        var first = layerStates[0];
        foreach (var t in layerStates)
            if (t.Rank != 3 || !Shape.Equal(t.ShapeSpan, first.ShapeSpan))
                throw new ArgumentException($"Flux 2 prompt embeds: every layer state must be [B, L, D] like the first {Shape.Format(first.ShapeSpan)}, got {Shape.Format(t.ShapeSpan)}", nameof(layerStates));
        // stack(dim=1).permute(0, 2, 1, 3).reshape(B, L, n·D) puts layer c's D features at c·D of each token: a
        // concatenation along the feature axis
        return ops.Concat(2, layerStates.ToArray());
    }

    /// <summary>Runs the encoder up to the deepest of <paramref name="layers"/> and interleaves their states.</summary>
    public static Tensor Encode(IOps ops, MistralTextModel encoder, long[] inputIds, long[]? attentionMask, int batch, int seqLen, IReadOnlyList<int>? layers = null)
    {
        var states = encoder.HiddenStates(ops, inputIds, attentionMask, batch, seqLen, layers ?? DefaultLayers);
        try { return Interleave(ops, states); }
        finally { foreach (var s in states) s.Dispose(); }
    }
}
