using XDit.Engine.Verify;
using XDit.Kernels.Cpu;
using XDit.Models.Gemma2;
using XDit.Models.Qwen25VL;
using XDit.Runtime;

namespace XDit.Tests.Models;

public class Qwen25VLTextModelTests(ITestOutputHelper output)
{
    // Two layers, 2 heads of dim 8, mrope_section [1, 1, 2], two prompts of 42 and fewer tokens right-padded (pad id
    // 293): last_hidden_state (padded rows included, which see the real tokens at position 1) and the pipeline's
    // prompt embeddings and mask (34 template tokens dropped, zero-padded to 8). Measured: giving the padded rows
    // positions 5, 6, … instead of get_rope_index's 1 moves last_hidden_state by 0.13.
    [Fact]
    public void FixtureMatchesTransformers()
    {
        using var ops = new CpuOps();
        var results = FixtureVerifier.Verify(TestPaths.Fixture("qwen25vl_text"), ops);
        Assert.Equal(new[] { "last_hidden_state", "prompt_embeds", "prompt_embeds_mask" }, results.Select(r => r.Name).Order(StringComparer.Ordinal));
        foreach (var r in results)
        {
            output.WriteLine($"qwen25vl_text {r.Name}: rel {r.RelativeError:E3} max abs {r.MaxAbsError:E3}");
            Assert.True(r.Passed, $"qwen25vl_text {r.Name}: relative error {r.RelativeError:E3} > {r.Tolerance:E1} {r.Problem}");
        }
    }

    [Fact]
    public void TextPositionsCountRealTokensAndPutPaddingAtOne()
    {
        Assert.Equal(new long[] { 0, 1, 2, 1, 1, 0, 1, 2, 3, 4 }, Qwen25VLRotary.TextPositions([1, 1, 1, 0, 0, 1, 1, 1, 1, 1], 2, 5));
        Assert.Equal(new long[] { 0, 1, 2 }, Qwen25VLRotary.TextPositions(null, 1, 3));
    }

    // Text has one position on all three axes, so the sections pick the same angle whichever axis they read: plain
    // RoPE, Gemma 2's tables exactly. Other positions per axis show which frequencies each axis drives.
    [Fact]
    public void MultimodalRotaryIsPlainRopeForTextAndSplitsFrequenciesBySection()
    {
        long[] p = [0, 1, 2, 3, 4, 5];
        var (cos, sin) = Qwen25VLRotary.Tables(16, 1e6, [2, 3, 3], [p, p, p]);
        var (gCos, gSin) = Gemma2Rotary.Tables(16, 1e6, 6);
        Assert.Equal(gCos, cos);
        Assert.Equal(gSin, sin);

        long[] t = [5], h = [7], w = [11];
        var (mc, _) = Qwen25VLRotary.Tables(16, 1e6, [2, 3, 3], [t, h, w]);
        for (int i = 0; i < 8; i++)
        {
            long pos = i < 2 ? 5 : i < 5 ? 7 : 11;
            float want = MathF.Cos(pos * (1f / MathF.Pow(1e6f, 2f * i / 16)));
            Assert.Equal(want, mc[i]);
            Assert.Equal(want, mc[8 + i]);   // the second half repeats the first
        }
    }

    // Causal attention with padded keys hidden: what follows a real token never reaches it.
    [Fact]
    public void LaterTokensDoNotChangeEarlierStates()
    {
        using var ops = new CpuOps();
        using var model = Qwen25VLTextModel.Load(TestPaths.Fixture("qwen25vl_text"), ops);
        long[] a = [12, 41, 49, 41, 94, 293, 293], b = [12, 41, 49, 41, 94, 63, 88];
        long[] mask = [1, 1, 1, 1, 1, 0, 0];
        using var ya = model.Encode(ops, a, mask, 1, 7);
        using var yb = model.Encode(ops, b, null, 1, 7);
        using var yShort = model.Encode(ops, a[..5], null, 1, 5);
        int d = model.Config.HiddenSize;
        var fa = ops.ToHost(ya);
        double later = Numerics.RelativeError(ops.ToHost(yb).AsSpan(0, 5 * d), fa.AsSpan(0, 5 * d));
        double prefix = Numerics.RelativeError(ops.ToHost(yShort), fa.AsSpan(0, 5 * d));
        output.WriteLine($"other later tokens: rel {later:E2}; unpadded prefix: rel {prefix:E2}");
        Assert.True(later < 1e-5 && prefix < 1e-5, $"later {later:E2}, prefix {prefix:E2}");
    }

    [Fact]
    public void PromptEmbedsKeepRealTokensAfterTheTemplateAndPadWithZeros()
    {
        using var ops = new CpuOps();
        // B = 2, S = 5, D = 2: value 10·s + feature, so each row says where it came from
        var values = new float[2 * 5 * 2];
        for (int b = 0; b < 2; b++)
            for (int s = 0; s < 5; s++)
                for (int f = 0; f < 2; f++) values[(b * 5 + s) * 2 + f] = 100 * b + 10 * s + f + 1;
        using var hidden = ops.FromHost(values, 2, 5, 2);
        // prompt 0: 5 real tokens; prompt 1: 3 real, then padding; drop 2
        var (embeds, mask) = QwenImagePromptEmbeds.From(ops, hidden, [1, 1, 1, 1, 1, 1, 1, 1, 0, 0], dropIdx: 2);
        using (embeds)
        {
            Assert.Equal(new[] { 2, 3, 2 }, embeds.Dims);
            Assert.Equal(new float[] { 21, 22, 31, 32, 41, 42, 121, 122, 0, 0, 0, 0 }, ops.ToHost(embeds));
        }
        Assert.Equal(new long[] { 1, 1, 1, 1, 0, 0 }, mask);

        // a real token after padding is kept too (the pipeline selects by the mask, not a prefix)
        var (gapped, gMask) = QwenImagePromptEmbeds.From(ops, hidden, [1, 1, 0, 1, 1, 1, 1, 1, 1, 1], dropIdx: 1);
        using (gapped) Assert.Equal(new float[] { 11, 12, 31, 32, 41, 42, 0, 0, 111, 112, 121, 122, 131, 132, 141, 142 }, ops.ToHost(gapped));
        Assert.Equal(new long[] { 1, 1, 1, 0, 1, 1, 1, 1 }, gMask);

        // encode_prompt's max_sequence_length cuts both after the padding
        var (cut, cutMask) = QwenImagePromptEmbeds.From(ops, hidden, [1, 1, 1, 1, 1, 1, 1, 1, 0, 0], dropIdx: 2, maxSequenceLength: 2);
        using (cut) Assert.Equal(new float[] { 21, 22, 31, 32, 121, 122, 0, 0 }, ops.ToHost(cut));
        Assert.Equal(new long[] { 1, 1, 1, 0 }, cutMask);

        var e = Assert.Throws<ArgumentException>(() => QwenImagePromptEmbeds.From(ops, hidden, [1, 1, 1, 1, 1, 1, 1, 0, 0, 0], dropIdx: 2));
        Assert.Contains("prompt 1 has 2 real tokens", e.Message);
    }

    [Fact]
    public void ConfigReadsNestedOrFlatTextKeysAndRefusesWhatItDoesNotRun()
    {
        var nested = Qwen25VLTextConfig.Load(Path.Combine(TestPaths.Fixture("qwen25vl_text"), "config.json"));
        Assert.Equal((16, 2, 2, 8, 300), (nested.HiddenSize, nested.NumLayers, nested.NumHeads, nested.HeadDim, nested.VocabSize));
        Assert.Equal(new[] { 1, 1, 2 }, nested.MropeSection);
        Assert.EndsWith("(text_config)", nested.Path);
        // Qwen-Image's text_encoder/config.json keeps the text keys at the top level
        var flat = Qwen25VLTextConfig.From(JsonConfig.Parse("""{"model_type": "qwen2_5_vl", "hidden_size": 3584, "num_attention_heads": 28, "num_key_value_heads": 4, "rope_scaling": {"type": "default", "mrope_section": [16, 24, 24]}}""", "q/config.json"));
        Assert.Equal((128, 7), (flat.HeadDim, flat.KeyValueGroups));
        Assert.Equal(new[] { 16, 24, 24 }, flat.MropeSection);
        // transformers 5 moves the RoPE keys, theta included, into rope_parameters
        var v5 = Qwen25VLTextConfig.From(JsonConfig.Parse("""{"model_type": "qwen2_5_vl", "text_config": {"hidden_size": 16, "num_attention_heads": 2, "num_key_value_heads": 1, "rope_parameters": {"rope_type": "default", "rope_theta": 5000.0, "mrope_section": [2, 1, 1]}}}""", "q/config.json"));
        Assert.Equal((5000.0, 2), (v5.RopeTheta, v5.KeyValueGroups));
        Assert.Equal(new[] { 2, 1, 1 }, v5.MropeSection);

        void Refused(string json, string expected)
        {
            var ex = Assert.ThrowsAny<Exception>(() => Qwen25VLTextConfig.From(JsonConfig.Parse(json, "q/config.json")));
            Assert.True(ex is FormatException or NotSupportedException, ex.GetType().Name);
            Assert.Contains("q/config.json", ex.Message);
            Assert.Contains(expected, ex.Message);
        }
        Refused("""{"model_type": "qwen2_vl"}""", "model_type 'qwen2_vl'");
        Refused("""{"model_type": "qwen2_5_vl", "text_config": {"use_sliding_window": true}}""", "use_sliding_window");
        Refused("""{"model_type": "qwen2_5_vl", "hidden_size": 16, "num_attention_heads": 2, "num_key_value_heads": 2, "rope_scaling": {"mrope_section": [1, 1, 1]}}""", "summing to head_dim/2 = 4");
        Refused("""{"model_type": "qwen2_5_vl", "rope_scaling": {"rope_type": "yarn"}}""", "rope_type 'yarn'");
        Refused("""{"model_type": "qwen2_5_vl", "hidden_act": "gelu"}""", "hidden_act 'gelu'");
        Refused("""{"model_type": "qwen2_5_vl", "rope_scaling": {"mrope_section": [16, 24, 24], "mrope_interleaved": true}}""", "mrope_interleaved");
        Refused("""{"model_type": "qwen2_5_vl", "hidden_size": 16, "num_attention_heads": 2, "num_key_value_heads": 2, "head_dim": 16}""", "head_dim 16");
    }
}
