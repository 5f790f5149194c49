using XDit.Kernels;
using XDit.Models.Embeddings;
using XDit.Runtime;

namespace XDit.Models.Vae.Ltx;

/// <summary>
/// The decoder's timestep conditioning as diffusers builds it in the decoder, its mid block and each up block:
/// PixArtAlphaCombinedTimestepSizeEmbeddings(width, 0) (no size conditions), so the 256-channel sinusoid of each
/// row's timestep (flip_sin_to_cos, shift 0, in float32, cast to the activation dtype) through
/// timestep_embedder.linear_1 → SiLU → linear_2, [B, width]; plus the scale_shift_table [parts, C] of the layer
/// that reads it (a resnet's four parts: shift 1, scale 1, shift 2, scale 2; the decoder's two: shift, scale).
/// </summary>
public sealed class LtxTimeEmbedder
{
    readonly TimestepEmbedding _embedding;

    LtxTimeEmbedder(TimestepEmbedding embedding, int width)
    {
        _embedding = embedding;
        Width = width;
    }

    public int Width { get; }

    /// <summary>Loads <c>{w}.time_embedder.timestep_embedder.linear_1/2</c> for an output of <paramref name="width"/>.</summary>
    public static LtxTimeEmbedder Load(WeightScope w, int width)
        => new(TimestepEmbedding.Load(w.Pp("time_embedder").Pp("timestep_embedder"), width), width);

    /// <summary>The embedding [B, width] of each row's (already scaled) timestep.</summary>
    public Tensor Embed(IOps ops, ReadOnlySpan<float> timesteps) => _embedding.Embed(ops, timesteps);

    /// <summary>emb [B, parts·C] + table [parts, C] → the parts as contiguous [B, C] tensors, in the table's order;
    /// the caller owns them.</summary>
    public static Tensor[] Parts(IOps ops, Tensor emb, Tensor table)
    {
        int b = emb.Dim(0), parts = table.Dim(0), c = table.Dim(1);
        if (emb.Rank != 2 || emb.Dim(1) != parts * c)
            throw new ArgumentException($"timestep embedding {Shape.Format(emb.ShapeSpan)} does not fit a scale_shift_table {Shape.Format(table.ShapeSpan)}: expected [B, {parts * c}]");
        using var sum = ops.Add(emb.Reshape(b, parts, c), table);
        var result = new Tensor[parts];
        try
        {
            for (int i = 0; i < parts; i++) result[i] = ops.Contiguous(sum.Select(1, i));
        }
        catch
        {
            foreach (var t in result) t?.Dispose();
            throw;
        }
        return result;
    }
}
