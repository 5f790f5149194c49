using XDit.Engine.Verify;
using XDit.Kernels;
using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Models.QwenImage;
using XDit.Runtime;

namespace XDit.Tests.Models;

public class QwenImageTransformerTests(ITestOutputHelper output)
{
    /// <summary>qwenimage: the public case (4×6 grid, text lengths 5 and 8, t 0.87); qwenimage_shapes: 2 frames of
    /// 3×5, 3 heads, a hole inside the mask, out_channels 3 (tests/fixtures/qwenimage_cases.py).</summary>
    [Theory]
    [InlineData("qwenimage")]
    [InlineData("qwenimage_shapes")]
    public void FixtureMatchesDiffusers(string fixture) => FixtureChecks.MatchOnCpu(fixture, output);

    /// <summary>Image token (f, y, x) of an F×h×w grid turns at frame f, row y − (h − ⌊h/2⌋) and column x − (w − ⌊w/2⌋);
    /// text token i at max(⌊h/2⌋, ⌊w/2⌋) + i on every axis; axis a's pair k at θ^(−2k/d_a).</summary>
    [Fact]
    public void RopeCentresTheGridAndPutsTheTextAfterIt()
    {
        int[] axes = [2, 2, 4];
        var (cos, sin) = QwenImageRope.Image(2, 3, 5, axes);
        Assert.Equal(30 * 8, cos.Length);
        // frame 1, row 0, column 4: positions (1, 0 − 2, 4 − 3) = (1, −2, 1)
        int at = (1 * 15 + 0 * 5 + 4) * 8;
        double[] angles = [1, 1, -2, -2, 1, 1, 0.01, 0.01];
        for (int ch = 0; ch < 8; ch++)
        {
            Assert.Equal(Math.Cos(angles[ch]), cos[at + ch], 6);
            Assert.Equal(Math.Sin(angles[ch]), sin[at + ch], 6);
        }
        // frame 0's token at position (0, 0): row 2 of 3 and column 3 of 5, not the middle ones (1 and 2)
        Assert.All(cos.AsSpan((2 * 5 + 3) * 8, 8).ToArray(), v => Assert.Equal(1f, v));
        // even sides: 4 rows are −2, −1, 0, 1
        var (c4, _) = QwenImageRope.Image(1, 4, 1, axes);
        int[] rows = [-2, -1, 0, 1];
        for (int r = 0; r < 4; r++) Assert.Equal(Math.Cos(rows[r]), c4[r * 8 + 2], 6);

        Assert.Equal(2, QwenImageRope.TextStart(3, 5));
        Assert.Equal(32, QwenImageRope.TextStart(64, 64));
        var (tc, ts) = QwenImageRope.Text(4, 3, 5, axes);
        // text token 3 at position 5 on all three axes
        double[] tAngles = [5, 5, 5, 5, 5, 5, 0.05, 0.05];
        for (int ch = 0; ch < 8; ch++)
        {
            Assert.Equal(Math.Cos(tAngles[ch]), tc[3 * 8 + ch], 6);
            Assert.Equal(Math.Sin(tAngles[ch]), ts[3 * 8 + ch], 6);
        }
    }

    [Fact]
    public void ConfigTakesDiffusersDefaultsWhichAreQwenImages()
    {
        var c = QwenImageConfig.From(JsonConfig.Parse("{}", "x/config.json"));
        Assert.Equal((2, 64, 16, 60, 128, 24, 3584), (c.PatchSize, c.InChannels, c.OutChannels, c.NumLayers, c.AttentionHeadDim, c.NumAttentionHeads, c.JointAttentionDim));
        Assert.Equal([16, 56, 56], c.AxesDimsRope);
        Assert.Equal(64, c.OutFeatures);
        Assert.Equal(3072, c.InnerDim);
        // an explicit null out_channels means in_channels (proj_out p²·in_channels wide)
        var n = QwenImageConfig.From(JsonConfig.Parse("""{"in_channels": 8, "out_channels": null}""", "x/config.json"));
        Assert.Equal(8, n.OutChannels);
        // guidance_embeds builds nothing in diffusers: read and accepted either way
        Assert.True(QwenImageConfig.From(JsonConfig.Parse("""{"guidance_embeds": true}""", "x/config.json")).GuidanceEmbeds);
    }

    /// <summary>Qwen-Image's config as its keys give it, with a key diffusers' signature lacks (pooled_projection_dim,
    /// which ConfigMixin ignores): it loads, ignoring that key, as the real-size entry the bench runs.</summary>
    [Fact]
    public void TheReleasedConfigLoadsAsTheRealSizeEntry()
    {
        var c = QwenImageConfig.From(JsonConfig.Parse("""
            {"_class_name": "QwenImageTransformer2DModel", "_diffusers_version": "0.35.0.dev0", "attention_head_dim": 128,
             "axes_dims_rope": [16, 56, 56], "guidance_embeds": false, "in_channels": 64, "joint_attention_dim": 3584,
             "num_attention_heads": 24, "num_layers": 60, "out_channels": 16, "patch_size": 2, "pooled_projection_dim": 768}
            """, "Qwen-Image/transformer/config.json"));
        var r = XDit.Engine.Bench.RealSizeModels.QwenImage;
        Assert.Equal(r with { AxesDimsRope = c.AxesDimsRope }, c);
        Assert.Equal(r.AxesDimsRope, c.AxesDimsRope);
    }

    [Theory]
    [InlineData("""{"zero_cond_t": true}""", "zero_cond_t true")]
    [InlineData("""{"use_additional_t_cond": true}""", "use_additional_t_cond true")]
    [InlineData("""{"use_layer3d_rope": true}""", "use_layer3d_rope true")]
    [InlineData("""{"axes_dims_rope": [16, 56, 54]}""", "sums to 126, but attention_head_dim is 128")]
    [InlineData("""{"axes_dims_rope": [64, 64]}""", "three positive even widths")]
    [InlineData("""{"_class_name": "FluxTransformer2DModel"}""", "_class_name")]
    public void ConfigRefusesWhatTheCodeDoesNotRunNamingTheFileAndKey(string json, string expected)
    {
        var e = Assert.ThrowsAny<Exception>(() => QwenImageConfig.From(JsonConfig.Parse(json, "x/config.json")));
        Assert.Contains("x/config.json", e.Message);
        Assert.Contains(expected, e.Message);
    }

    static DitInputs Inputs(FixtureUploads up, FixtureCase fx, bool mask = true) => new()
    {
        HiddenStates = up["hidden_states"],
        EncoderHiddenStates = up["encoder_hidden_states"],
        EncoderAttentionMask = mask ? up["encoder_hidden_states_mask"] : null,
        Timestep = fx.InputFloats("timestep"),
        ImgShape = QwenImageFixtureRunner.ImgShape(fx),
    };

    /// <summary>Bad inputs are refused in one line naming what was expected and found.</summary>
    [Fact]
    public void EmbedRefusesBadInputs()
    {
        using var ops = new CpuOps();
        using var fx = new FixtureCase(TestPaths.Fixture("qwenimage"));
        using var model = QwenImageTransformer.Load(fx.Dir, ops);
        using var up = new FixtureUploads(fx, ops);
        var good = Inputs(up, fx);
        Assert.Contains("needs img_shapes", Assert.Throws<ArgumentException>(() => model.Embed(ops, good with { ImgShape = null })).Message);
        Assert.Contains("(1, 5, 5) must be a grid of the 24 image tokens", Assert.Throws<ArgumentException>(() => model.Embed(ops, good with { ImgShape = (1, 5, 5) })).Message);
        using (var shortMask = ops.Zeros(DType.F32, 2, 7))
            Assert.Contains("encoder_hidden_states_mask must be [2, 8], got [2, 7]", Assert.Throws<ArgumentException>(() => model.Embed(ops, good with { EncoderAttentionMask = shortMask })).Message);
        using (var wide = ops.Zeros(DType.F32, 2, 24, 64))
            Assert.Contains("packed [B, N, 16], got [2, 24, 64]", Assert.Throws<ArgumentException>(() => model.Embed(ops, good with { HiddenStates = wide })).Message);
        Assert.Contains("one timestep per batch row (2), got 1", Assert.Throws<ArgumentException>(() => model.Embed(ops, good with { Timestep = [0.5f] })).Message);
    }

    /// <summary>The mask hides padded text keys from every query: the image tokens' output does not depend on the
    /// states of masked text tokens (qwenimage_shapes' row 0 masks tokens 1, 4 and 5, a hole inside the prompt), it does
    /// depend on them without the mask, and a mask of all ones is no mask at all (no key bias in the state).</summary>
    [Fact]
    public void TheMaskHidesPaddedTextKeysFromEveryQuery()
    {
        using var ops = new CpuOps();
        using var fx = new FixtureCase(TestPaths.Fixture("qwenimage_shapes"));
        using var model = QwenImageTransformer.Load(fx.Dir, ops);
        using var up = new FixtureUploads(fx, ops);
        var inputs = Inputs(up, fx);
        var y = ops.ToHost(inputs.EncoderHiddenStates);
        var m = ops.ToHost(inputs.EncoderAttentionMask!);
        int t = inputs.EncoderHiddenStates.Dim(1), dy = inputs.EncoderHiddenStates.Dim(2);
        var changed = (float[])y.Clone();
        for (int i = 0; i < m.Length; i++)
            if (m[i] == 0)
                for (int k = 0; k < dy; k++) changed[i * dy + k] += 3f;
        using var yChanged = ops.FromHost(changed, 2, t, dy);

        float[] Run(DitInputs x) { using var o = model.Forward(ops, x); return ops.ToHost(o); }
        var masked = Run(inputs);
        var maskedChanged = Run(inputs with { EncoderHiddenStates = yChanged });
        double same = Numerics.RelativeError(maskedChanged, masked);
        output.WriteLine($"masked text states changed: rel {same:E2}");
        Assert.True(same < 1e-6, $"the output moved by {same:E2} when only masked text states changed");

        var open = Run(inputs with { EncoderAttentionMask = null });
        var openChanged = Run(inputs with { EncoderAttentionMask = null, EncoderHiddenStates = yChanged });
        Assert.True(Numerics.RelativeError(openChanged, open) > 1e-3, "without the mask the padded states must matter");
        Assert.True(Numerics.RelativeError(open, masked) > 1e-3, "the mask must change the output");

        using var ones = ops.FromHost(Enumerable.Repeat(1f, 2 * t).ToArray(), 2, t);
        using (var state = model.Embed(ops, inputs with { EncoderAttentionMask = ones })) Assert.Null(state.TextKeyBias);
        using (var state = model.Embed(ops, inputs)) Assert.Equal([2, t + 30], state.TextKeyBias!.Dims);
        Assert.Equal(open, Run(inputs with { EncoderAttentionMask = ones }));
    }

    /// <summary>The state holds the grid (frames' rows stacked) and the output stays packed.</summary>
    [Fact]
    public void StateHoldsTheGridAndTheOutputStaysPacked()
    {
        using var ops = new CpuOps();
        using var fx = new FixtureCase(TestPaths.Fixture("qwenimage_shapes"));
        using var model = QwenImageTransformer.Load(fx.Dir, ops);
        using var up = new FixtureUploads(fx, ops);
        using var state = model.Embed(ops, Inputs(up, fx));
        Assert.Equal((30, 2, 6, 5), (state.TotalTokens, state.GridT, state.GridH, state.GridW));
        Assert.Equal([30, 8], state.ImageRopeCos!.Dims);
        Assert.Equal([6, 8], state.TextRopeCos!.Dims);
        Assert.Equal(12, model.OutFeatures);
        using var first = model.FirstBlockModulatedInput(ops, state);
        Assert.Equal([2, 30, 24], first.Dims);
    }

    /// <summary>A Qwen-Image-Layered checkpoint (its addition_t_embedding) is refused at load, naming the tensor.</summary>
    [Fact]
    public void ALayeredCheckpointIsRefused()
    {
        using var ops = new CpuOps();
        var config = QwenImageConfig.Load(Path.Combine(TestPaths.Fixture("qwenimage"), "config.json"));
        var checkpoint = new RandomCheckpoint("layered", DType.F32);
        var e = Assert.Throws<FormatException>(() => QwenImageTransformer.Load(config, checkpoint, ops));
        Assert.Contains("time_text_embed.addition_t_embedding.weight", e.Message);
    }
}
