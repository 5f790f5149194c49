using XDit.Kernels;
using XDit.Models.Embeddings;
using XDit.Runtime;

namespace XDit.Models.HunyuanVideo;

/// <summary>
/// diffusers HunyuanVideoTokenRefiner (the context_embedder): the mean of the kept text states (each row's kept
/// prefix) is the pooled input of a CombinedTimestepTextProjEmbeddings with the timestep; the states
/// go through proj_in and the refiner blocks, whose self-attention hides the padded keys (diffusers' query-and-key
/// mask with key 0 always visible: for the kept queries, the only rows that reach the output, that is a key mask
/// keeping key 0 and the kept keys).
/// </summary>
sealed class HunyuanVideoTokenRefiner
{
    readonly TimeTextEmbedding _timeText;
    readonly Linear _projIn;
    readonly HunyuanVideoRefinerBlock[] _blocks;
    readonly int _textDim;

    /// <summary>Loads the refiner from its scope (context_embedder).</summary>
    public HunyuanVideoTokenRefiner(WeightScope w, HunyuanVideoConfig c)
    {
        int d = c.InnerDim;
        _textDim = c.TextEmbedDim;
        _timeText = TimeTextEmbedding.Load(w.Pp("time_text_embed"), d, c.TextEmbedDim, guidance: false);
        _projIn = w.Linear("proj_in", c.TextEmbedDim, d);
        var blocks = w.Pp("token_refiner").Pp("refiner_blocks");
        _blocks = Enumerable.Range(0, c.NumRefinerLayers).Select(i => new HunyuanVideoRefinerBlock(blocks.Pp(i), c)).ToArray();
    }

    /// <summary>Refined text tokens [B, T, D] from <paramref name="ctx"/> [B, T, text_embed_dim];
    /// <paramref name="kept"/> is each row's count of kept tokens (a prefix), or null when every token is kept.</summary>
    public Tensor Apply(IOps ops, Tensor ctx, ReadOnlySpan<float> timesteps, int[]? kept)
    {
        int b = ctx.Dim(0), t = ctx.Dim(1);
        // pooled = Σ_j m_j·x_j / Σ_j m_j per row: one batched GEMM of the weights m_j / Σ m [B, 1, T] with the states
        var weights = new float[b * t];
        for (int r = 0; r < b; r++)
        {
            int count = kept is null ? t : kept[r];
            for (int j = 0; j < count; j++) weights[r * t + j] = 1f / count;
        }
        Tensor pooled;
        using (var wts = ops.FromHost(weights, b, 1, t))
            pooled = ops.MatMul(wts, ctx).TakeReshaped(b, _textDim);
        Tensor siluTemb;
        using (pooled)
        using (var temb = _timeText.Apply(ops, timesteps, [], pooled))
            siluTemb = ops.Activate(temb, Activation.Silu);
        using (siluTemb)
        {
            using var bias = kept is null ? null : KeyBias(ops, kept, b, t);
            var options = bias is null ? null : new AttentionOptions { KeyBias = bias };
            var h = _projIn.Apply(ops, ctx);
            foreach (var block in _blocks)
            {
                using var prev = h;
                h = block.Run(ops, prev, siluTemb, options);
            }
            return h;
        }
    }

    /// <summary>[B, T]: 0 for key 0 and the kept keys, −10000 for the other padded ones.</summary>
    static Tensor KeyBias(IOps ops, int[] kept, int b, int t)
    {
        var bias = new float[b * t];
        for (int r = 0; r < b; r++)
            for (int j = Math.Max(1, kept[r]); j < t; j++) bias[r * t + j] = TextKeyBias.PaddedKeyBias;
        return ops.FromHost(bias, b, t);
    }
}
