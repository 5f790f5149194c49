using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Qwen25VL;

/// <summary>
/// QwenImagePipeline's prompt embeddings from the text encoder's last hidden state (its _get_qwen_prompt_embeds):
/// each prompt keeps its real tokens (mask 1, in order), drops the first <see cref="DropIdx"/> of them (the system
/// part of <see cref="Template"/>), and the prompts are zero-padded on the right to the longest; the mask is 1 on the
/// kept tokens, 0 on the padding.
/// </summary>
public static class QwenImagePromptEmbeds
{
    /// <summary>The chat template each prompt is put in ({0}: the prompt) before tokenizing
    /// (prompt_template_encode of pipeline_qwenimage.py).</summary>
    public const string Template = "<|im_start|>system\nDescribe the image by detailing the color, shape, size, texture, quantity, text, spatial relationships of the objects and background:<|im_end|>\n<|im_start|>user\n{0}<|im_end|>\n<|im_start|>assistant\n";

    /// <summary>How many leading tokens of the templated prompt are dropped (prompt_template_encode_start_idx): the
    /// tokens of the template before the prompt, as Qwen2's tokenizer splits them.</summary>
    public const int DropIdx = 34;

    /// <summary>prompt_embeds [B, L, D] (the activation dtype, on the backend) and prompt_embeds_mask [B·L] (row-major
    /// 0/1) from <paramref name="hidden"/> [B, S, D] and the tokenizer's attention mask [B·S]; L is the longest kept
    /// length, or <paramref name="maxSequenceLength"/> where that is shorter (encode_prompt's
    /// <c>prompt_embeds[:, :max_sequence_length]</c>, the mask cut alike). Throws when a prompt has no more than
    /// <paramref name="dropIdx"/> real tokens (nothing would be left).</summary>
    public static (Tensor Embeds, long[] Mask) From(IOps ops, Tensor hidden, long[] attentionMask, int dropIdx = DropIdx, int? maxSequenceLength = null)
    {
        if (hidden.Rank != 3)
            throw new ArgumentException($"QwenImage prompt embeds: hidden states must be [B, S, D], got {Shape.Format(hidden.ShapeSpan)}", nameof(hidden));
        int b = hidden.Dim(0), s = hidden.Dim(1), d = hidden.Dim(2);
        if (attentionMask.Length != b * s)
            throw new ArgumentException($"QwenImage prompt embeds: attention mask has {attentionMask.Length} entries, expected B·S = {b}·{s}", nameof(attentionMask));
        if (dropIdx < 0) throw new ArgumentOutOfRangeException(nameof(dropIdx), dropIdx, "must not be negative");
        if (maxSequenceLength is < 1) throw new ArgumentOutOfRangeException(nameof(maxSequenceLength), maxSequenceLength, "must be at least 1");

        // per prompt, the positions of its real tokens after the dropped ones
        var kept = new List<int>[b];
        for (int i = 0; i < b; i++)
        {
            var real = Enumerable.Range(0, s).Where(j => attentionMask[i * s + j] != 0).ToList();
            if (real.Count <= dropIdx)
                throw new ArgumentException($"QwenImage prompt embeds: prompt {i} has {real.Count} real tokens, expected more than the {dropIdx} template tokens dropped", nameof(attentionMask));
            kept[i] = real.Skip(dropIdx).Take(maxSequenceLength ?? int.MaxValue).ToList();
        }
        int len = kept.Max(k => k.Count);
        var mask = new long[b * len];
        var rows = new Tensor[b];
        var made = new List<Tensor>();
        try
        {
            for (int i = 0; i < b; i++)
            {
                var parts = new List<Tensor>();
                // runs of consecutive positions are sliced as one view (with right padding, one run per prompt)
                foreach (var (start, count) in Runs(kept[i])) parts.Add(hidden.Select(0, i).Slice(0, start, count));
                if (kept[i].Count < len)
                {
                    var zeros = ops.Zeros(hidden.DType, len - kept[i].Count, d);
                    made.Add(zeros);
                    parts.Add(zeros);
                }
                var row = parts.Count == 1 ? ops.Contiguous(parts[0]) : ops.Concat(0, parts.ToArray());
                made.Add(row);
                rows[i] = row.Unsqueeze(0);
                for (int j = 0; j < kept[i].Count; j++) mask[i * len + j] = 1;
            }
            return (ops.Concat(0, rows), mask);
        }
        finally
        {
            foreach (var t in made) t.Dispose();
        }
    }

    static IEnumerable<(int Start, int Count)> Runs(List<int> positions)
    {
        int at = 0;
        while (at < positions.Count)
        {
            int end = at + 1;
            while (end < positions.Count && positions[end] == positions[end - 1] + 1) end++;
            yield return (positions[at], end - at);
            at = end;
        }
    }
}
