using XDit.Engine.Verify;
using XDit.Kernels.Cpu;
using XDit.Models.Mistral;
using XDit.Runtime;

namespace XDit.Tests.Models;

public class MistralTextTests(ITestOutputHelper output)
{
    static string Dir => TestPaths.Fixture("flux2_text");

    // flux2_text: Mistral3ForConditionalGeneration's text model, 4 layers, 4 query heads over 2 K/V heads, rope_theta
    // 1e9, two prompts of 16 and 9 real tokens right-padded to 16: last_hidden_state (padded rows included) and Flux 2's
    // prompt embeddings from hidden_states[1], [2], [3].
    // mistral_window (mistral_cases.py): a bare MistralModel, weights at the root, sliding_window 5 over 14 tokens,
    // head_dim 8 over hidden 16, 4 query heads on 1 K/V head. Measured: without the window 4.6e-1 off, rope_theta ×4
    // 3.3e-2 off.
    // llama_text (mistral_cases.py): a bare LlamaModel with q/k/v/o and MLP biases, HunyuanVideo's hidden_states[-3].
    // Measured: rope_theta ×4 8.0e-2 off.
    [Theory]
    [InlineData("flux2_text")]
    [InlineData("mistral_window")]
    [InlineData("llama_text")]
    public void FixtureMatchesTransformers(string fixture)
    {
        using var ops = new CpuOps();
        var results = FixtureVerifier.Verify(TestPaths.Fixture(fixture), ops);
        Assert.Equal(new[] { "last_hidden_state", "prompt_embeds" }, results.Select(r => r.Name).Order(StringComparer.Ordinal));
        foreach (var r in results)
        {
            output.WriteLine($"{fixture} {r.Name}: rel {r.RelativeError:E3} max abs {r.MaxAbsError:E3}");
            Assert.True(r.Passed && r.RelativeError < 1e-4, $"{fixture} {r.Name}: relative error {r.RelativeError:E3} {r.Problem}");
        }
    }

    // Right padding: the padded query rows still run (positions 9 … 15, the padded keys hidden) and are returned; the
    // real rows are those of the prompt alone, unpadded. Measured: letting the padded keys be seen moves the padded
    // rows by 0.89 and the real ones not at all, so each half is checked on its own.
    [Fact]
    public void PaddedRowsMatchTransformersAndLeaveTheRealRowsAsUnpadded()
    {
        using var ops = new CpuOps();
        using var model = MistralTextModel.Load(Dir, ops);
        using var fixture = new FixtureCase(Dir);
        var (ids, mask, batch, seqLen) = FixtureTokens.Read(fixture);
        Assert.NotNull(mask);
        int d = model.Config.HiddenSize, real = (int)mask.Skip(seqLen).Sum();
        Assert.True(real is > 0 and < 16, $"the second prompt has {real} real tokens, expected some padding");
        using var y = model.Encode(ops, ids, mask, batch, seqLen);
        using var want = fixture.Expected("last_hidden_state");
        var got = ops.ToHost(y);
        var expected = want.Span<float>().ToArray();
        int padStart = (seqLen + real) * d, end = 2 * seqLen * d;
        double padded = Numerics.RelativeError(got.AsSpan(padStart, end - padStart), expected.AsSpan(padStart, end - padStart));

        using var alone = model.Encode(ops, ids[seqLen..(seqLen + real)], null, 1, real);
        double unpadded = Numerics.RelativeError(ops.ToHost(alone), got.AsSpan(seqLen * d, real * d));

        // the same batch with the padded keys left visible: the padded rows see each other, the real ones do not
        using var seen = model.Encode(ops, ids, null, batch, seqLen);
        var s = ops.ToHost(seen);
        double paddedSeen = Numerics.RelativeError(s.AsSpan(padStart, end - padStart), expected.AsSpan(padStart, end - padStart));
        double realSeen = Numerics.RelativeError(s.AsSpan(seqLen * d, real * d), got.AsSpan(seqLen * d, real * d));
        output.WriteLine($"padded rows vs transformers: rel {padded:E2}; real rows vs the prompt alone: rel {unpadded:E2}; padded keys seen: padded rows {paddedSeen:E2}, real rows {realSeen:E2}");
        Assert.True(padded < 1e-4, $"padded rows: {padded:E2}");
        Assert.True(unpadded < 1e-5, $"real rows against the unpadded prompt: {unpadded:E2}");
        Assert.True(paddedSeen > 1e-2 && realSeen < 1e-6, $"with padded keys seen: padded rows {paddedSeen:E2}, real rows {realSeen:E2}");
    }

    // hidden_states as transformers numbers them: 0 the embeddings, k after layer k − 1, NumLayers (−1) after the
    // final norm; the layers past the deepest one asked for are not needed, and a repeated index is its own tensor.
    [Fact]
    public void HiddenStatesAreNumberedAsTransformersNumbersThem()
    {
        using var ops = new CpuOps();
        using var model = MistralTextModel.Load(Dir, ops);
        long[] ids = [1, 17, 42, 199, 3];
        var states = model.HiddenStates(ops, ids, null, 1, 5, [0, -1, 4, 2, 2]);
        try
        {
            Assert.All(states, t => Assert.Equal(new[] { 1, 5, 16 }, t.Dims));
            using var source = Checkpoint.Open(Dir);
            using var table = source.ReadF32("language_model.model.embed_tokens.weight");
            var rows = ids.SelectMany(id => table.Span<float>().Slice((int)id * 16, 16).ToArray()).ToArray();
            Assert.Equal(rows, ops.ToHost(states[0]));
            using var last = model.Encode(ops, ids, null, 1, 5);
            Assert.Equal(ops.ToHost(last), ops.ToHost(states[1]));
            Assert.Equal(ops.ToHost(last), ops.ToHost(states[2]));
            Assert.Equal(ops.ToHost(states[3]), ops.ToHost(states[4]));
            Assert.NotSame(states[3], states[4]);
            // hidden_states[2] is not normed: its rows' RMS is not the final norm's
            Assert.True(Numerics.RelativeError(ops.ToHost(states[3]), ops.ToHost(last)) > 0.1);

            // the pipeline's embeddings of layers [2, 0]: each token's row is its hidden_states[2] row, then its embedding
            using var pe = Flux2PromptEmbeds.Encode(ops, model, ids, null, 1, 5, [2, 0]);
            Assert.Equal(new[] { 1, 5, 32 }, pe.Dims);
            var h2 = ops.ToHost(states[3]);
            var want = Enumerable.Range(0, 5).SelectMany(t => h2.AsSpan(t * 16, 16).ToArray().Concat(rows.AsSpan(t * 16, 16).ToArray())).ToArray();
            Assert.Equal(want, ops.ToHost(pe));
        }
        finally { foreach (var t in states) t.Dispose(); }

        var e = Assert.Throws<ArgumentOutOfRangeException>(() => model.HiddenStates(ops, ids, null, 1, 5, [5]));
        Assert.Contains("hidden state 5 is outside the 5", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => model.HiddenStates(ops, ids, null, 1, 5, [-6]));
        Assert.Throws<ArgumentOutOfRangeException>(() => model.Encode(ops, [200], null, 1, 1));
        // the pipeline's default layers 10, 20, 30 need a deeper model than this 4-layer one
        e = Assert.Throws<ArgumentOutOfRangeException>(() => Flux2PromptEmbeds.Encode(ops, model, ids, null, 1, 5));
        Assert.Contains("hidden state 10", e.Message);
    }

    // stack(dim=1) → permute(0, 2, 1, 3) → reshape(B, L, n·D): each token's row holds its layers' states in order
    [Fact]
    public void PromptEmbedsInterleaveTheLayersPerToken()
    {
        using var ops = new CpuOps();
        // layer c, sample b, token l, feature f holds 1000c + 100b + 10l + f
        var layers = Enumerable.Range(0, 3).Select(c =>
        {
            var v = new float[2 * 2 * 2];
            for (int b = 0; b < 2; b++)
                for (int l = 0; l < 2; l++)
                    for (int f = 0; f < 2; f++) v[(b * 2 + l) * 2 + f] = 1000 * c + 100 * b + 10 * l + f;
            return ops.FromHost(v, 2, 2, 2);
        }).ToArray();
        try
        {
            using var e = Flux2PromptEmbeds.Interleave(ops, layers);
            Assert.Equal(new[] { 2, 2, 6 }, e.Dims);
            Assert.Equal(new float[]
            {
                0, 1, 1000, 1001, 2000, 2001, 10, 11, 1010, 1011, 2010, 2011,
                100, 101, 1100, 1101, 2100, 2101, 110, 111, 1110, 1111, 2110, 2111,
            }, ops.ToHost(e));
            using var odd = ops.FromHost(new float[8], 2, 4, 1);
            Assert.Throws<ArgumentException>(() => Flux2PromptEmbeds.Interleave(ops, [layers[0], odd]));
        }
        finally { foreach (var t in layers) t.Dispose(); }
    }

    [Fact]
    public void ConfigReadsMistral3MistralAndLlamaAndRefusesWhatItDoesNotRun()
    {
        var nested = MistralTextConfig.Load(Path.Combine(Dir, "config.json"));
        Assert.Equal(("mistral", 16, 4, 4, 2, 4, 200), (nested.ModelType, nested.HiddenSize, nested.NumLayers, nested.Decoder.NumHeads, nested.Decoder.NumKeyValueHeads, nested.HeadDim, nested.VocabSize));
        Assert.Equal((1e9, (int?)null, 1e-5f), (nested.RopeTheta, nested.SlidingWindow, nested.Decoder.RmsNormEps));
        Assert.False(nested.Decoder.QkvBias || nested.Decoder.OutputBias || nested.Decoder.MlpBias);
        Assert.EndsWith("(text_config)", nested.Path);

        // Mistral Small 3.1's head_dim is not hidden_size / heads; MistralConfig's defaults: 8 K/V heads, a 4096 window
        var small = MistralTextConfig.From(JsonConfig.Parse("""{"model_type": "mistral3", "text_config": {"hidden_size": 5120, "num_attention_heads": 32, "head_dim": 128, "sliding_window": null}}""", "m/config.json"));
        Assert.Equal((128, 8, (int?)null, "mistral"), (small.HeadDim, small.Decoder.NumKeyValueHeads, small.SlidingWindow, small.ModelType));
        var mistral = MistralTextConfig.From(JsonConfig.Parse("""{"model_type": "mistral", "hidden_size": 256, "num_attention_heads": 16}""", "m/config.json"));
        Assert.Equal((16, 8, (int?)4096, 10000.0), (mistral.HeadDim, mistral.Decoder.NumKeyValueHeads, mistral.SlidingWindow, mistral.RopeTheta));
        // LlamaConfig: K/V heads default to the query heads, attention_bias covers q, k, v and o, no window
        var llama = MistralTextConfig.From(JsonConfig.Parse("""{"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4, "attention_bias": true, "mlp_bias": true, "sliding_window": 8, "rope_parameters": {"rope_type": "default", "rope_theta": 500000.0}}""", "l/config.json"));
        Assert.Equal((4, true, true, true, (int?)null, 500000.0), (llama.Decoder.NumKeyValueHeads, llama.Decoder.QkvBias, llama.Decoder.OutputBias, llama.Decoder.MlpBias, llama.SlidingWindow, llama.RopeTheta));

        void Refused(string json, string expected)
        {
            var ex = Assert.ThrowsAny<Exception>(() => MistralTextConfig.From(JsonConfig.Parse(json, "m/config.json")));
            Assert.True(ex is FormatException or NotSupportedException, ex.GetType().Name);
            Assert.Contains("m/config.json", ex.Message);
            Assert.Contains(expected, ex.Message);
        }
        Refused("""{"model_type": "gemma2"}""", "model_type 'gemma2'");
        Refused("""{"model_type": "mistral3"}""", "without text_config");
        Refused("""{"model_type": "mistral3", "text_config": {"model_type": "qwen2"}}""", "model_type 'qwen2'");
        Refused("""{"model_type": "mistral", "hidden_act": "gelu"}""", "hidden_act 'gelu'");
        Refused("""{"model_type": "llama", "rope_scaling": {"rope_type": "llama3", "factor": 8.0}}""", "rope_type 'llama3'");
        Refused("""{"model_type": "mistral", "rope_parameters": {"rope_type": "yarn"}}""", "rope_type 'yarn'");
        Refused("""{"model_type": "mistral", "num_attention_heads": 6, "num_key_value_heads": 4}""", "not a multiple of num_key_value_heads 4");
        Refused("""{"model_type": "mistral", "head_dim": 5}""", "head_dim 5");
        Refused("""{"model_type": "llama", "hidden_size": 30, "num_attention_heads": 4}""", "hidden_size 30 / num_attention_heads 4");
        Refused("""{"model_type": "mistral", "sliding_window": 0}""", "sliding_window");
        Refused("""{"model_type": "mistral", "num_hidden_layers": 0}""", "num_hidden_layers");
        Refused("""{"model_type": "mistral", "partial_rotary_factor": 0.5}""", "partial_rotary_factor");
    }

    // A checkpoint with more decoder layers than its config gives is refused, not run short.
    [Fact]
    public void CheckpointWithMoreLayersThanTheConfigIsRefused()
    {
        using var ops = new CpuOps();
        var config = MistralTextConfig.Load(Path.Combine(Dir, "config.json")) with { NumLayers = 3 };
        using var source = Checkpoint.Open(Dir);
        var e = Assert.Throws<FormatException>(() => MistralTextModel.Load(config, source, ops));
        Assert.Contains("language_model.model.layers.3", e.Message);
    }
}
