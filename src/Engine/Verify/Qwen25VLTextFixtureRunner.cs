using XDit.Kernels;
using XDit.Models.Qwen25VL;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>Fixtures of Qwen2_5_VLForConditionalGeneration run on text: input_ids and attention_mask (I64, right
/// padding) → out.last_hidden_state, and out.prompt_embeds / out.prompt_embeds_mask as QwenImagePipeline makes them
/// (meta "drop_idx", else the pipeline's 34).</summary>
public sealed class Qwen25VLTextFixtureRunner : IFixtureRunner
{
    public bool Handles(JsonConfig meta) => meta.GetString("model", null) == Qwen25VLTextConfig.ClassName;

    public IReadOnlyDictionary<string, Tensor> Run(FixtureCase fixture, IOps ops)
    {
        using var model = Qwen25VLTextModel.Load(fixture.Dir, ops);
        var (ids, mask, batch, seqLen) = FixtureTokens.Read(fixture);
        var hidden = model.Encode(ops, ids, mask, batch, seqLen);
        var result = new Dictionary<string, Tensor> { ["last_hidden_state"] = hidden };
        if (fixture.OutputNames.Contains("prompt_embeds"))
        {
            int dropIdx = fixture.Meta.GetInt("drop_idx", QwenImagePromptEmbeds.DropIdx);
            var (embeds, embedsMask) = QwenImagePromptEmbeds.From(ops, hidden, mask ?? Enumerable.Repeat(1L, ids.Length).ToArray(), dropIdx);
            result["prompt_embeds"] = embeds;
            // masks are compared exactly; a host float32 tensor is read as it is
            result["prompt_embeds_mask"] = Tensor.FromArray(embedsMask.Select(m => (float)m).ToArray(), batch, embedsMask.Length / batch);
        }
        return result;
    }
}
