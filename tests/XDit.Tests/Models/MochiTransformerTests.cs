using XDit.Engine.Caches;
using XDit.Engine.Execution;
using XDit.Engine.Verify;
using XDit.Kernels;
using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Models.Mochi;
using XDit.Runtime;

namespace XDit.Tests.Models;

public class MochiTransformerTests(ITestOutputHelper output)
{
    /// <summary>mochi: the public case (2 layers, 2 heads × 8, the text stream as wide as the video's, rows keeping 16
    /// and 6 of 16 text tokens); mochi_wide (mochi_cases.py): the text stream wider (24) than the video's (16), 4 in and
    /// 6 out channels, 3 frames, rows keeping 3 and none of 7.</summary>
    [Theory]
    [InlineData("mochi")]
    [InlineData("mochi_wide")]
    public void FixtureMatchesDiffusers(string fixture) => FixtureChecks.MatchOnCpu(fixture, output);

    [Theory]
    [InlineData("""{"qk_norm": "layer_norm"}""", "qk_norm 'layer_norm'")]
    [InlineData("""{"activation_fn": "gelu-approximate"}""", "activation_fn 'gelu-approximate'")]
    [InlineData("""{"num_layers": 0}""", "num_layers is 0")]
    [InlineData("""{"text_embed_dim": 4100}""", "text_embed_dim 4100 is not a multiple of 8")]
    [InlineData("""{"attention_head_dim": 127}""", "attention_head_dim is 127")]
    [InlineData("""{"time_embed_dim": 255}""", "time_embed_dim is 255")]
    [InlineData("""{"_class_name": "HunyuanVideoTransformer3DModel"}""", "_class_name")]
    public void ConfigRefusesWhatTheCodeDoesNotRunNamingTheFileAndKey(string json, string expected)
    {
        var e = Assert.ThrowsAny<Exception>(() => MochiConfig.From(JsonConfig.Parse(json, "x/config.json")));
        Assert.Contains("x/config.json", e.Message);
        Assert.Contains(expected, e.Message);
    }

    /// <summary>An empty config is Mochi 1 (diffusers' defaults): 48 blocks of 24 × 128, the text stream 1536 wide,
    /// SwiGLU widths two thirds of 4·width; out_channels null is in_channels.</summary>
    [Fact]
    public void ConfigTakesDiffusersDefaults()
    {
        var c = MochiConfig.From(JsonConfig.Parse("{}", "x/config.json"));
        Assert.Equal((24, 128, 48, 1536, 12, 12, 4096, 256, 2), (c.NumAttentionHeads, c.AttentionHeadDim, c.NumLayers, c.PooledProjectionDim, c.InChannels, c.OutChannels, c.TextEmbedDim, c.TimeEmbedDim, c.PatchSize));
        Assert.Equal((3072, 8192, 4096, 48, 48), (c.InnerDim, c.FfInnerDim, c.FfContextInnerDim, c.PatchFeatures, c.OutFeatures));
        Assert.Equal(5, MochiConfig.From(JsonConfig.Parse("""{"in_channels": 5, "out_channels": null}""", "x/config.json")).OutChannels);
    }

    /// <summary>Bad inputs are refused in one line naming what was expected and found.</summary>
    [Fact]
    public void EmbedRefusesBadInputs()
    {
        using var ops = new CpuOps();
        using var fx = new FixtureCase(TestPaths.Fixture("mochi"));
        using var model = MochiTransformer.Load(fx.Dir, ops);
        using var up = new FixtureUploads(fx, ops);
        var good = new DitInputs
        {
            HiddenStates = up["hidden_states"], EncoderHiddenStates = up["encoder_hidden_states"], EncoderAttentionMask = up["encoder_attention_mask"],
            Timestep = [980, 125],
        };
        using var frontFrames = ops.Zeros(DType.F32, 2, 2, 12, 4, 6);   // [B, F, C, H, W]
        Assert.Contains("must be [B, 12, F, H, W], got [2, 2, 12, 4, 6]", Assert.Throws<ArgumentException>(() => model.Embed(ops, good with { HiddenStates = frontFrames })).Message);
        using var odd = ops.Zeros(DType.F32, 2, 12, 2, 5, 6);
        Assert.Contains("5×6 is not a multiple of patch_size 2", Assert.Throws<ArgumentException>(() => model.Embed(ops, good with { HiddenStates = odd })).Message);
        using var narrow = ops.Zeros(DType.F32, 2, 16, 16);
        Assert.Contains("encoder_hidden_states must be [2, T ≥ 1, 32], got [2, 16, 16]", Assert.Throws<ArgumentException>(() => model.Embed(ops, good with { EncoderHiddenStates = narrow })).Message);
        Assert.Contains("one timestep per batch row (2), got 1", Assert.Throws<ArgumentException>(() => model.Embed(ops, good with { Timestep = [980] })).Message);
        using var shortMask = ops.Zeros(DType.F32, 2, 15);
        Assert.Contains("encoder_attention_mask must be [2, 16], got [2, 15]", Assert.Throws<ArgumentException>(() => model.Embed(ops, good with { EncoderAttentionMask = shortMask })).Message);
        var gapped = Enumerable.Repeat(1f, 32).ToArray();
        gapped[16 + 2] = 0;
        using var gap = ops.FromHost(gapped, 2, 16);
        Assert.Contains("row 1 keeps token 3 after padded token 2", Assert.Throws<ArgumentException>(() => model.Embed(ops, good with { EncoderAttentionMask = gap })).Message);
    }

    /// <summary>The state holds the video grid, the text cut to the longest kept prefix and the key bias [B, N + T]
    /// (zeros for the video keys, −10000 for each row's padded text keys); one row alone needs no bias and still gives
    /// diffusers' output for that row; unpatchify puts each token's features (row in patch, column in patch, channel)
    /// back where its patch came from.</summary>
    [Fact]
    public void StateHoldsTheGridAndTheKeyBiasAndUnpatchifyInvertsThePatchLayout()
    {
        using var ops = new CpuOps();
        using var fx = new FixtureCase(TestPaths.Fixture("mochi_wide"));
        using var model = MochiTransformer.Load(fx.Dir, ops);
        using var up = new FixtureUploads(fx, ops);
        var inputs = new DitInputs
        {
            HiddenStates = up["hidden_states"], EncoderHiddenStates = up["encoder_hidden_states"], EncoderAttentionMask = up["encoder_attention_mask"],
            Timestep = fx.InputFloats("timestep"),
        };
        using (var state = model.Embed(ops, inputs))
        {
            // 3 frames of 4×6 latents in 2×2 patches: 3 × 2×3 = 18 tokens; row 0 keeps 3 of 7 text tokens, row 1 none
            Assert.Equal((18, 3, 6, 3), (state.TotalTokens, state.GridT, state.GridH, state.GridW));
            Assert.Equal([2, 3, 24], state.Text!.Dims);
            Assert.Equal([18, 16], state.ImageRopeCos!.Dims);
            var bias = ops.ToHost(state.TextKeyBias!);
            Assert.Equal(2 * 21, bias.Length);
            Assert.All(bias.AsSpan(0, 21 + 18).ToArray(), v => Assert.Equal(0f, v));
            Assert.All(bias.AsSpan(21 + 18, 3).ToArray(), v => Assert.Equal(TextKeyBias.PaddedKeyBias, v));

            var tokens = new float[2 * 18 * 24];
            for (int i = 0; i < tokens.Length; i++) tokens[i] = i;
            using var tk = ops.FromHost(tokens, 2, 18, 24);
            using var video = model.Unpatchify(ops, tk, state);
            Assert.Equal([2, 6, 3, 4, 6], video.Dims);
            var v = ops.ToHost(video);
            // batch 1, frame 2, patch row 1, column 2 is token 2·6 + 1·3 + 2 = 17; feature (a 1, b 0, c 5) is
            // (1·2 + 0)·6 + 5 = 17; it lands at channel 5, frame 2, y 3, x 4
            Assert.Equal((1 * 18 + 17) * 24 + 17, v[(((1 * 6 + 5) * 3 + 2) * 4 + 3) * 6 + 4]);
        }

        Tensor Row0(string name) => up[name].Slice(0, 0, 1);
        var alone = new DitInputs
        {
            HiddenStates = Row0("hidden_states"), EncoderHiddenStates = Row0("encoder_hidden_states"), EncoderAttentionMask = Row0("encoder_attention_mask"),
            Timestep = [fx.InputFloats("timestep")[0]],
        };
        using (var state = model.Embed(ops, alone))
        {
            Assert.Equal([1, 3, 24], state.Text!.Dims);
            Assert.Null(state.TextKeyBias);
        }
        using var y = model.Forward(ops, alone);
        using var want = fx.Expected("sample");
        var all = want.ToFloatArray();
        double err = Numerics.RelativeError(ops.ToHost(y), all.AsSpan(0, all.Length / 2).ToArray());
        output.WriteLine($"row 0 alone: rel {err:E3}");
        Assert.True(err < 1e-4, $"row 0 alone: relative error {err:E3}");
    }

    /// <summary>The positions are torch.linspace's cell centres over ±count·s/2 with s = √(192²/(rows·cols)), and the
    /// angle of a head's pair is its own combination of the (frame, row, column) position by pos_frequencies.</summary>
    [Fact]
    public void RopeTablesGiveEachHeadItsOwnAnglesOfTheCentredPositions()
    {
        double s = Math.Sqrt(192.0 * 192.0 / (2 * 3));
        var centres = MochiRope.Centers(3, s);
        Assert.Equal(-s, centres[0], 4);
        Assert.Equal(0.0, centres[1], 4);
        Assert.Equal(s, centres[2], 4);
        // 2 heads × d 4 (2 pairs): head 0 pair 0 turns with the frame, head 0 pair 1 with the row, head 1 pair 0 with
        // the column, head 1 pair 1 with frame + row + column at a tenth
        float[] pf =
        [
            1, 0, 0, 0.1f,    // frame axis [H, d/2]
            0, 1, 0, 0.1f,    // row axis
            0, 0, 1, 0.1f,    // column axis
        ];
        var (cos, sin) = MochiRope.Tables(2, 2, 3, pf, 2, 4);
        Assert.Equal(2 * 2 * 3 * 8, cos.Length);
        int o = ((1 * 2 + 1) * 3 + 2) * 8;    // token (frame 1, row 1, column 2)
        float y = (float)(s / 2), x = (float)s;
        Assert.Equal(MathF.Sin(1f), sin[o], 5);
        Assert.Equal(MathF.Sin(1f), sin[o + 1], 5);
        Assert.Equal(MathF.Cos(y), cos[o + 2], 3);
        Assert.Equal(MathF.Sin(x), sin[o + 4], 3);
        Assert.Equal(MathF.Sin(0.1f * (1 + y + x)), sin[o + 6], 3);
    }

    /// <summary>The step caches take Mochi (block 0's RMSNorm-zero input is TeaCache's indicator): at threshold 0 every
    /// step is the plain forward exactly; a repeated input is skipped and still gives the plain output.</summary>
    [Fact]
    public void StepCachesRunAndSkipARepeatedStep()
    {
        using var ops = new CpuOps();
        using var fx = new FixtureCase(TestPaths.Fixture("mochi"));
        using var model = MochiTransformer.Load(fx.Dir, ops);
        using var up = new FixtureUploads(fx, ops);
        float[] Predict(IDenoiseExecutor executor, int step, float scale)
        {
            using var x = ops.Scale(up["hidden_states"], scale);
            var inputs = new DitInputs
            {
                HiddenStates = x, EncoderHiddenStates = up["encoder_hidden_states"], EncoderAttentionMask = up["encoder_attention_mask"],
                Timestep = fx.InputFloats("timestep").Select(t => t * scale).ToArray(),
            };
            using var y = executor.Predict(ops, model, inputs, step);
            return ops.ToHost(y);
        }
        using var exact = new TeaCacheExecutor(0, 2);
        using var fb = new FirstBlockCacheExecutor(0.05);
        float[] scales = [1f, 1f, 0.5f];
        for (int t = 0; t < scales.Length; t++)
        {
            var plain = Predict(SingleRankExecutor.Instance, t, scales[t]);
            if (t < 2) Assert.Equal(plain, Predict(exact, t, scales[t]));
            double err = Numerics.RelativeError(Predict(fb, t, scales[t]), plain);
            Assert.True(err < 1e-5, $"fbcache step {t}: relative error {err:E2}");
        }
        Assert.Equal((2, 0), (exact.Stats.Computed, exact.Stats.Skipped));
        Assert.Equal([1], fb.Stats.SkippedSteps);
    }

    /// <summary>The real-size entry's toy twin runs a forward on the CPU with its random weights; the real one takes
    /// Mochi 1's video latent (15×60×106: 85 frames at 480×848) and refuses a square latent size.</summary>
    [Fact]
    public void RealSizeEntriesRunAndKeepTheirVideoLatent()
    {
        var tiny = XDit.Engine.Bench.RealSizeModels.Workload("mochi-tiny", DType.F32);
        Assert.Equal((12, 8, 2), (tiny.ImageTokens, tiny.TextTokens, tiny.Rows));
        using var ops = new CpuOps();
        using var model = tiny.Load(ops);
        var owned = new List<Tensor>();
        try
        {
            using var y = model.Forward(ops, tiny.Inputs(ops, owned));
            Assert.Equal([2, 4, 2, 4, 6], y.Dims);
            Assert.All(ops.ToHost(y), v => Assert.True(float.IsFinite(v)));
        }
        finally { foreach (var t in owned) t.Dispose(); }
        var real = XDit.Engine.Bench.RealSizeModels.Workload(XDit.Engine.Bench.RealSizeModels.Resolve("mochi"), DType.BF16, shapeOnlyWeights: true);
        Assert.Equal((15 * 30 * 53, 256, 2, 24), (real.ImageTokens, real.TextTokens, real.Rows, real.Heads));
        Assert.Contains("a square latent size does not apply", Assert.Throws<ArgumentException>(() => XDit.Engine.Bench.RealSizeModels.Workload("mochi-1", DType.BF16, latentSize: 64)).Message);
    }
}
