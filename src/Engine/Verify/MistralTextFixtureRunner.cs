using XDit.Kernels;
using XDit.Models.Mistral;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>Fixtures of Mistral3ForConditionalGeneration run on text (Flux 2's text encoder), MistralModel or
/// LlamaModel: input_ids and attention_mask (I64, right padding) → out.last_hidden_state, and out.prompt_embeds as
/// Flux2Pipeline makes them from the hidden states of meta "hidden_states_layers" (else the pipeline's 10, 20, 30).</summary>
public sealed class MistralTextFixtureRunner : IFixtureRunner
{
    public bool Handles(JsonConfig meta) => MistralTextConfig.ClassNames.Contains(meta.GetString("model", null));

    public IReadOnlyDictionary<string, Tensor> Run(FixtureCase fixture, IOps ops)
    {
        using var model = MistralTextModel.Load(fixture.Dir, ops);
        var (ids, mask, batch, seqLen) = FixtureTokens.Read(fixture);
        var layers = fixture.Meta.GetIntArrayOrNull("hidden_states_layers") ?? Flux2PromptEmbeds.DefaultLayers;
        // one pass gives both: the layers' states and, last, the final one
        var states = model.HiddenStates(ops, ids, mask, batch, seqLen, [.. layers, model.Config.NumLayers]);
        var result = new Dictionary<string, Tensor> { ["last_hidden_state"] = states[^1] };
        try { result["prompt_embeds"] = Flux2PromptEmbeds.Interleave(ops, states[..^1]); }
        catch { states[^1].Dispose(); throw; }
        finally { foreach (var s in states[..^1]) s.Dispose(); }
        return result;
    }
}
