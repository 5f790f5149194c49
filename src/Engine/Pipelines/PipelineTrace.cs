using XDit.Kernels;
using XDit.Models.Tokenizers;
using XDit.Runtime;

namespace XDit.Engine.Pipelines;

/// <summary>One value a generation passed through, as float32 on the host, with its shape.</summary>
public sealed record TracedValue(string Name, float[] Values, int[] Shape);

/// <summary>
/// The intermediate results of one generation under the names diffusers' pipelines give them (input_ids,
/// prompt_embeds, negative_prompt_embeds, latents, ...), in the order they were made. A pipeline records into it only
/// when one is attached (<see cref="TextToImagePipeline.Trace"/>); `xdit verify` compares a whole-pipeline fixture's
/// tensors against it, so a difference is named where it starts (the tokens, an encoder, the loop or the VAE).
/// </summary>
public sealed class PipelineTrace
{
    readonly List<TracedValue> _values = new();

    public IReadOnlyList<TracedValue> Values => _values;

    public TracedValue? Find(string name) => _values.LastOrDefault(v => v.Name == name);

    public void Add(string name, float[] values, params int[] shape)
    {
        if (Shape.Product(shape) != values.Length)
            throw new ArgumentException($"trace '{name}': {values.Length} values do not fill shape {Shape.Format(shape)}");
        _values.Add(new TracedValue(name, values, shape));
    }

    /// <summary>Rows [start, start + count) of a backend tensor whose first axis is the batch.</summary>
    public void AddRows(IOps ops, string name, Tensor t, int start, int count)
    {
        using var rows = ops.Contiguous(t.Slice(0, start, count));
        Add(name, ops.ToHost(rows), rows.Dims);
    }

    /// <summary>A tensor made for the rows [negative; positive] under classifier-free guidance: the first half as
    /// negative_NAME, the second as NAME (diffusers' prompt_embeds / negative_prompt_embeds); all rows as NAME
    /// without guidance.</summary>
    public void AddGuided(IOps ops, string name, Tensor t, bool cfg)
    {
        int rows = t.Dim(0);
        if (!cfg) { AddRows(ops, name, t, 0, rows); return; }
        AddRows(ops, "negative_" + name, t, 0, rows / 2);
        AddRows(ops, name, t, rows / 2, rows / 2);
    }

    /// <summary>Token ids (and, when <paramref name="maskName"/> is given, the attention mask) of rows laid out as
    /// in <see cref="AddGuided"/>.</summary>
    public void AddTokens(string idsName, string? maskName, TokenizedText tokens, bool cfg)
    {
        int half = cfg ? tokens.Batch / 2 : 0;
        void Rows(string name, long[] data, int start, int count)
            => Add(name, data.AsSpan(start * tokens.Length, count * tokens.Length).ToArray().Select(v => (float)v).ToArray(), count, tokens.Length);
        if (cfg)
        {
            Rows("negative_" + idsName, tokens.Ids, 0, half);
            if (maskName is not null) Rows("negative_" + maskName, tokens.Mask, 0, half);
        }
        Rows(idsName, tokens.Ids, half, tokens.Batch - half);
        if (maskName is not null) Rows(maskName, tokens.Mask, half, tokens.Batch - half);
    }
}
